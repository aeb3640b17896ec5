/**
 * A complete operator-mode development setup in one folder: an operator, a system account with a
 * user, a demo account with JetStream and a user, a server config with a full resolver and JetStream,
 * a JWT mount holding the demo account's JWT, and the `NATS_*` environment that points pot-nats at it.
 * Used by `deno task demo`, the end-to-end tests and the benchmarks.
 *
 * `openDevSetup` is idempotent: a folder that already holds a setup is reused as it is, keys and all.
 */

import { encodeOperator } from "@nats-io/jwt";
import { fromSeed } from "@nats-io/nkeys";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import {
  type FixtureAccount,
  type FixtureOperator,
  type FixtureUser,
  makeAccount,
  makeOperator,
  makeSystemAccount,
  makeUser,
} from "./jwt_fixtures.ts";

export interface DevSetupOptions {
  clientPort: number;
  /** 0 disables the monitor port. */
  monitorPort: number;
  serverBin: string;
  serverName?: string;
  /** JetStream's `domain` (a leaf keeps its own, so its streams and the hub's do not clash). */
  jetstreamDomain?: string;
  /** Extra lines appended to server.conf (e.g. a cluster block). */
  extraConfig?: string;
  /** The supervisor's HTTP endpoint on 127.0.0.1 (`POT_NATS_HTTP_PORT`); 0 or absent: off. */
  httpPort?: number;
}

export interface DevSetup {
  dir: string;
  confPath: string;
  accountsPath: string;
  mountDir: string;
  jwtDir: string;
  credsDir: string;
  /** Client users' creds (not watched: the creds dir is the server's). */
  usersDir: string;
  sslDir: string;
  storeDir: string;
  clientUrl: string;
  operator: FixtureOperator;
  system: FixtureAccount;
  demo: FixtureAccount;
  sysUser: FixtureUser;
  demoUser: FixtureUser;
  options: DevSetupOptions;
  /** The environment that runs pot-nats on this setup. */
  env: Record<string, string>;
}

interface SavedKeys {
  operator: string;
  operatorSigningKey: string;
  system: string;
  demo: string;
}

/** Reuses the setup in `dir` if there is one, else creates it. */
export async function openDevSetup(dir: string, options: DevSetupOptions): Promise<DevSetup> {
  const keysPath = join(dir, "keys.json");
  let saved: SavedKeys | undefined;
  try {
    saved = JSON.parse(await Deno.readTextFile(keysPath));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const setup = await buildSetup(dir, options, saved);
  if (!saved) await writeSetup(setup);
  return setup;
}

/** Creates a fresh setup in `dir` (which should be empty). */
export async function createDevSetup(dir: string, options: DevSetupOptions): Promise<DevSetup> {
  const setup = await buildSetup(dir, options, undefined);
  await writeSetup(setup);
  return setup;
}

async function buildSetup(
  dir: string,
  options: DevSetupOptions,
  saved: SavedKeys | undefined,
): Promise<DevSetup> {
  const operator = saved
    ? await operatorFromSeeds("pot-nats-dev", saved)
    : await makeOperator({ name: "pot-nats-dev", signingKey: true });
  const signer = operator.signingKey!.kp;
  const system = saved
    ? await makeAccount(operator, {
      name: "SYS",
      jetstream: false,
      key: fromSeed(enc(saved.system)),
    })
    : await makeSystemAccount(operator);
  const demo = await makeAccount(operator, {
    name: "demo",
    signer,
    ...(saved ? { key: fromSeed(enc(saved.demo)) } : {}),
  });
  const paths = {
    dir,
    confPath: join(dir, "config", "server.conf"),
    accountsPath: join(dir, "config", "accounts.conf"),
    mountDir: join(dir, "jwt-mount"),
    jwtDir: join(dir, "jwt"),
    credsDir: join(dir, "creds"),
    usersDir: join(dir, "users"),
    sslDir: join(dir, "certs"),
    storeDir: join(dir, "data"),
  };
  const clientUrl = `nats://127.0.0.1:${options.clientPort}`;
  return {
    ...paths,
    clientUrl,
    operator,
    system,
    demo,
    sysUser: await makeUser(system, { name: "sys" }),
    demoUser: await makeUser(demo, { name: "demo-user" }),
    options,
    env: {
      NATS_CONF: paths.confPath,
      NATS_ACCOUNTS: paths.accountsPath,
      NATS_SSL_DIR: paths.sslDir,
      NATS_JWT_DIR: paths.jwtDir,
      NATS_JWT_MOUNT_DIR: paths.mountDir,
      NATS_CREDS_DIR: paths.credsDir,
      NATS_SERVER_BIN: options.serverBin,
      NATS_MONITOR_PORT: String(options.monitorPort),
      NATS_SYS_USER_CRED_PATH: "sys.creds",
      NATS_CLIENT_URL: clientUrl,
      POT_NATS_HTTP_PORT: String(options.httpPort ?? 0),
      POT_NATS_HTTP_HOST: "127.0.0.1",
    },
  };
}

/** Rebuilds a saved operator (same keys, freshly signed JWT). */
async function operatorFromSeeds(name: string, saved: SavedKeys): Promise<FixtureOperator> {
  const kp = fromSeed(enc(saved.operator));
  const signing = fromSeed(enc(saved.operatorSigningKey));
  const jwt = await encodeOperator(name, kp, { signing_keys: [signing.getPublicKey()] });
  return {
    name,
    kp,
    pub: kp.getPublicKey(),
    seed: saved.operator,
    jwt,
    signingKey: { kp: signing, pub: signing.getPublicKey(), seed: saved.operatorSigningKey },
  };
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** The server config text: operator mode, full resolver, JetStream, loopback only. */
export function serverConfigText(setup: DevSetup): string {
  const { options } = setup;
  return [
    "# Generated by pot-nats' dev setup (dev/dev_setup.ts).",
    `server_name: ${options.serverName ?? "pot_nats_dev"}`,
    "host: 127.0.0.1",
    `port: ${options.clientPort}`,
    `operator: "../operator.jwt"`,
    `include "./accounts.conf"`,
    `jetstream { store_dir: "${setup.storeDir}"${
      options.jetstreamDomain ? `, domain: ${options.jetstreamDomain}` : ""
    } }`,
    `resolver { type: full, dir: "${setup.jwtDir}", allow_delete: true, interval: "2m", timeout: "1.9s" }`,
    options.extraConfig ?? "",
    "",
  ].join("\n");
}

/** The accounts file: the system account and its preloaded JWT. */
export function accountsConfigText(setup: DevSetup): string {
  return [
    `system_account: ${setup.system.pub}`,
    `resolver_preload { ${setup.system.pub}: "${setup.system.jwt}" }`,
    "",
  ].join("\n");
}

async function writeSetup(setup: DevSetup): Promise<void> {
  const dirs = [setup.mountDir, setup.jwtDir, setup.credsDir, setup.usersDir, setup.sslDir];
  for (const dir of [...dirs, setup.storeDir]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  await Deno.mkdir(join(setup.dir, "config"), { recursive: true });
  await Deno.writeTextFile(join(setup.dir, "operator.jwt"), setup.operator.jwt + "\n");
  await Deno.writeTextFile(setup.accountsPath, accountsConfigText(setup));
  await Deno.writeTextFile(join(setup.mountDir, `${setup.demo.pub}.jwt`), setup.demo.jwt + "\n");
  await Deno.writeTextFile(join(setup.credsDir, "sys.creds"), setup.sysUser.creds, { mode: 0o600 });
  await Deno.writeTextFile(join(setup.usersDir, "demo.creds"), setup.demoUser.creds, {
    mode: 0o600,
  });
  const keys: SavedKeys = {
    operator: setup.operator.seed,
    operatorSigningKey: setup.operator.signingKey!.seed,
    system: setup.system.seed,
    demo: setup.demo.seed,
  };
  await Deno.writeTextFile(join(setup.dir, "keys.json"), JSON.stringify(keys, null, 2), {
    mode: 0o600,
  });
  // Last, so a supervisor waiting for NATS_CONF finds everything else in place.
  await Deno.writeTextFile(setup.confPath, serverConfigText(setup));
}

/** A dev setup in a new temporary directory, removed when disposed. */
export interface TempDevSetup extends DevSetup, AsyncDisposable {}

/**
 * Creates a dev setup in a new temporary directory, on free loopback ports unless given.
 * @returns the setup; disposing it removes the directory
 */
export async function createTempDevSetup(
  options: Partial<DevSetupOptions> & { serverBin: string },
): Promise<TempDevSetup> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-test-" });
  const setup = await createDevSetup(dir, {
    clientPort: freePort(),
    monitorPort: freePort(),
    httpPort: freePort(),
    ...options,
  });
  return {
    ...setup,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}
