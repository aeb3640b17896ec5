/**
 * A hub and a leaf, the way a PoT edge device runs them, on free loopback ports: a plain hub
 * nats-server (operator mode, full resolver, JetStream domain `hub`, a `leafnodes` listener) and a
 * leaf nats-server supervised by pot-nats through `main.ts` with `NATS_SERVER_MODE=leaf` (operator
 * mode, full resolver, JetStream domain `leaf`, `leafnodes.remotes` to the hub). For the leaf
 * end-to-end tests and the `leaf` benchmark.
 *
 * Both servers trust the same operator, so the same account JWTs are valid on both: the demo
 * account is in the hub's resolver dir and in the leaf's JWT mount. The leaf's remote binds the
 * demo account and logs in as a demo user whose creds sit in a directory under `NATS_CREDS_DIR`
 * (`leafnode/hub.creds`), the way a projected Secret volume puts them there; the creds dir and the
 * TLS dir are kubelet-style volumes (`..data` swaps). With TLS on (the default where `openssl`
 * runs), the hub's leafnode listener presents a certificate for 127.0.0.1 and the leaf's remote
 * checks it against `hub-ca.crt` in its TLS dir (`NATS_SSL_DIR`).
 *
 * @module
 */

import { join } from "node:path";
import {
  createDevSetup,
  type DevSetup,
  type DevSetupOptions,
  serverConfigText,
} from "./dev_setup.ts";
import { type FixtureAccount, type FixtureUser, makeAccount, makeUser } from "./jwt_fixtures.ts";
import { kubeletWrite } from "./kubelet.ts";
import { makeCertificates, opensslAvailable } from "./certificates.ts";
import { monitor } from "./nats_client.ts";
import { pollUntil } from "./poll.ts";
import { freePort } from "./ports.ts";
import { collectOutput, trySignal } from "./process_output.ts";
import { runSupervisor, type SupervisorRun } from "./supervisor_run.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";

/** Where the remote's creds sit under the leaf's `NATS_CREDS_DIR`. */
export const REMOTE_CREDS_PATH = "leafnode/hub.creds";
/** The CA of the hub's leafnode certificate, in the leaf's `NATS_SSL_DIR`. */
export const HUB_CA_FILE = "hub-ca.crt";

/** One entry of a server's `/leafz`. */
export interface Leafz {
  /** The connection id (2.11 and later; 2.10 has none). */
  id?: number;
  name: string;
  account: string;
  ip: string;
  port: number;
}

/** The plain hub nats-server. */
export interface Hub {
  setup: DevSetup;
  /** The port of its `leafnodes` listener. */
  leafnodePort: number;
  /** Every line it printed, across restarts. */
  readonly lines: readonly string[];
  readonly running: boolean;
  /** Starts it (again, on the same ports and folders) and waits until it is ready. */
  start(): Promise<void>;
  /** Stops it (SIGINT; SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Its `/leafz`: the leaf connections it sees. */
  leafz(): Promise<Leafz[]>;
}

/** A remote of the leaf: the local account it binds, and the creds it logs in to the hub with. */
export interface LeafRemote {
  account: string;
  /** A path under the leaf's creds dir (default {@linkcode REMOTE_CREDS_PATH}). */
  credsPath?: string;
}

export interface LeafTopology extends AsyncDisposable {
  dir: string;
  hub: Hub;
  /** The leaf's folders, ports and environment. */
  leaf: DevSetup;
  /** The leaf's supervisor (`main.ts`). */
  run: SupervisorRun;
  /** Whether the leafnode link runs over TLS. */
  tls: boolean;
  /** The leaf's server config text for these remotes (default: the demo account's one). */
  leafConfig(remotes?: LeafRemote[]): string;
  /** Updates files of the leaf's creds volume (path under it -> text) in one kubelet swap. */
  writeCreds(files: Record<string, string>): Promise<number>;
  /** Updates files of the leaf's TLS volume in one kubelet swap. */
  writeTls(files: Record<string, string>): Promise<number>;
  /**
   * A new account known to both servers: its JWT in the hub's resolver dir (loaded on first use)
   * and in the leaf's mount, with a user.
   */
  addSharedAccount(name: string): Promise<{ account: FixtureAccount; user: FixtureUser }>;
  /** Waits until the hub's `/leafz` lists `count` connections from the leaf. */
  waitForHubToSeeLeaf(options?: { count?: number; timeoutMs?: number }): Promise<Leafz[]>;
}

export interface LeafTopologyOptions {
  serverBin: string;
  /** Environment added to the leaf supervisor's (e.g. `POT_NATS_PURGE_GRACE_SECONDS`). */
  env?: Record<string, string>;
  /** TLS on the leafnode link (default: when `openssl` runs here). */
  tls?: boolean;
}

/**
 * Creates both servers' folders in a new temporary directory, starts the hub, then the leaf's
 * supervisor.
 * @returns once the leaf's supervisor watches for changes and the hub sees the leaf; disposing it
 *   stops both and removes the directory
 * @throws when either does not come up (everything started is stopped first)
 */
export async function startLeafTopology(options: LeafTopologyOptions): Promise<LeafTopology> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-leaf-" });
  const cleanups: (() => PromiseLike<void>)[] = [() => Deno.remove(dir, { recursive: true })];
  const dispose = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const topology = await prepare(dir, options, cleanups);
    await topology.hub.start();
    const run = runSupervisor({ env: topology.env });
    cleanups.push(() => run[Symbol.asyncDispose]());
    const result: LeafTopology = {
      ...topology,
      run,
      [Symbol.asyncDispose]: dispose,
    };
    // Generous: test files run in parallel on few cores.
    await run.waitForLine(/watching for changes mode=leaf/, { timeoutMs: 30_000 });
    await result.waitForHubToSeeLeaf({ timeoutMs: 30_000 });
    return result;
  } catch (error) {
    await dispose();
    throw error;
  }
}

type Prepared = Omit<LeafTopology, "run" | typeof Symbol.asyncDispose> & {
  env: Record<string, string>;
};

async function prepare(
  dir: string,
  options: LeafTopologyOptions,
  cleanups: (() => PromiseLike<void>)[],
): Promise<Prepared> {
  const tls = options.tls ?? await opensslAvailable();
  const certsDir = join(dir, "hub-certs");
  if (tls) {
    await Deno.mkdir(certsDir);
    await makeCertificates(certsDir);
  }
  const leafnodePort = freePort();
  const base = (name: string): DevSetupOptions => ({
    clientPort: freePort(),
    monitorPort: freePort(),
    serverBin: options.serverBin,
    serverName: name,
    jetstreamDomain: name,
  });
  const hubTls = tls
    ? `, tls { cert_file: "${join(certsDir, "tls.crt")}", key_file: "${
      join(certsDir, "tls.key")
    }" }`
    : "";
  const hubSetup = await createDevSetup(join(dir, "hub"), {
    ...base("hub"),
    extraConfig: `leafnodes { listen: "127.0.0.1:${leafnodePort}"${hubTls} }`,
  });
  // The hub runs without the supervisor: its resolver dir gets the demo JWT by hand.
  await Deno.writeTextFile(join(hubSetup.jwtDir, `${hubSetup.demo.pub}.jwt`), hubSetup.demo.jwt);
  const hub = startableHub(hubSetup, leafnodePort);
  cleanups.push(() => hub.stop());

  // The leaf: its own folders, then the hub's keys, JWTs and users in them.
  const leafDir = join(dir, "leaf");
  const { operator, system, demo, sysUser, demoUser } = hubSetup;
  const leaf: DevSetup = {
    ...await createDevSetup(leafDir, base("leaf")),
    operator,
    system,
    demo,
    sysUser,
    demoUser,
  };
  await Deno.copyFile(join(hubSetup.dir, "keys.json"), join(leafDir, "keys.json"));
  await Deno.writeTextFile(join(leafDir, "operator.jwt"), `${operator.jwt}\n`);
  await Deno.copyFile(hubSetup.accountsPath, leaf.accountsPath);
  for (const mounted of await Array.fromAsync(Deno.readDir(leaf.mountDir))) {
    await Deno.remove(join(leaf.mountDir, mounted.name));
  }
  await Deno.writeTextFile(join(leaf.mountDir, `${demo.pub}.jwt`), `${demo.jwt}\n`);

  const remoteUser = await makeUser(demo, { name: "leaf-remote" });
  const creds: Record<string, string> = {
    "sys.creds": sysUser.creds,
    [REMOTE_CREDS_PATH]: remoteUser.creds,
  };
  const tlsFiles: Record<string, string> = tls
    ? { [HUB_CA_FILE]: await Deno.readTextFile(join(certsDir, "ca.crt")) }
    : {};
  for (const volume of [leaf.credsDir, leaf.sslDir]) await Deno.remove(volume, { recursive: true });
  const writeCreds = (files: Record<string, string>) =>
    kubeletWrite(leaf.credsDir, Object.assign(creds, files));
  const writeTls = (files: Record<string, string>) =>
    kubeletWrite(leaf.sslDir, Object.assign(tlsFiles, files));
  await writeCreds({});
  await writeTls({});

  const leafConfig = (remotes: LeafRemote[] = [{ account: demo.pub }]) =>
    serverConfigText({
      ...leaf,
      options: { ...leaf.options, extraConfig: leafnodesBlock(leaf, remotes, leafnodePort, tls) },
    });
  await Deno.writeTextFile(leaf.confPath, leafConfig());
  const signingKeyPath = join(leafDir, "operator-signing.nk");
  await Deno.writeTextFile(signingKeyPath, operator.signingKey!.seed, { mode: 0o600 });

  return {
    dir,
    hub,
    leaf,
    tls,
    leafConfig,
    writeCreds,
    writeTls,
    async addSharedAccount(name) {
      const account = await makeAccount(operator, { name, signer: operator.signingKey!.kp });
      await Deno.writeTextFile(join(hubSetup.jwtDir, `${account.pub}.jwt`), account.jwt);
      await writeFileAtomic(join(leaf.mountDir, `${account.pub}.jwt`), `${account.jwt}\n`);
      return { account, user: await makeUser(account, { name: `${name}-user` }) };
    },
    async waitForHubToSeeLeaf({ count = 1, timeoutMs = 15_000 } = {}) {
      return await pollUntil(
        `the hub to list ${count} leaf connection${count === 1 ? "" : "s"} from the leaf`,
        async () => {
          const leafs = (await hub.leafz()).filter((entry) => entry.name === "leaf");
          return leafs.length === count && leafs;
        },
        { timeoutMs, intervalMs: 5 },
      );
    },
    env: {
      ...leaf.env,
      NATS_SERVER_MODE: "leaf",
      POT_NATS_OPERATOR_SIGNING_KEY: signingKeyPath,
      ...options.env,
    },
  };
}

/** The leaf's `leafnodes` block: one remote per entry, each binding a local account. */
function leafnodesBlock(
  leaf: DevSetup,
  remotes: LeafRemote[],
  hubPort: number,
  tls: boolean,
): string {
  const lines = remotes.map((remote) => {
    const parts = [
      `url: "${tls ? "tls" : "nats-leaf"}://127.0.0.1:${hubPort}"`,
      `credentials: "${join(leaf.credsDir, remote.credsPath ?? REMOTE_CREDS_PATH)}"`,
      `account: ${remote.account}`,
      ...(tls ? [`tls { ca_file: "${join(leaf.sslDir, HUB_CA_FILE)}" }`] : []),
    ];
    return `    { ${parts.join(", ")} }`;
  });
  return ["leafnodes {", "  remotes: [", ...lines, "  ]", "}"].join("\n");
}

function startableHub(setup: DevSetup, leafnodePort: number): Hub {
  /** The lines of each run of the hub, oldest first. */
  const runs: string[][] = [];
  let current: { process: Deno.ChildProcess; status: Promise<Deno.CommandStatus> } | undefined;
  let exited = true;
  return {
    setup,
    leafnodePort,
    get lines() {
      return runs.flat();
    },
    get running() {
      return !exited;
    },
    async start() {
      if (!exited) return;
      const process = new Deno.Command(setup.options.serverBin, {
        args: ["-c", setup.confPath, "-m", String(setup.options.monitorPort)],
        cwd: join(setup.dir, "config"),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const { lines, done } = collectOutput(process);
      runs.push(lines);
      exited = false;
      const status = Promise.all([process.status, done]).then(([status]) => {
        exited = true;
        return status;
      });
      current = { process, status };
      await pollUntil("the hub to be ready", () => {
        if (exited) throw new Error(`the hub exited:\n${lines.join("\n")}`);
        return lines.some((line) => /Server is ready/.test(line));
      });
    },
    async stop() {
      if (!current) return;
      const { process, status } = current;
      trySignal(() => process.kill("SIGINT"));
      const timer = setTimeout(() => trySignal(() => process.kill("SIGKILL")), 10_000);
      try {
        await status;
      } finally {
        clearTimeout(timer);
      }
    },
    async leafz() {
      const leafz = await monitor<{ leafs?: Leafz[] }>(setup.options.monitorPort, "leafz");
      return leafz.leafs ?? [];
    },
  };
}
