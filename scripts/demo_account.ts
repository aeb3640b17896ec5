/**
 * Changes the demo's accounts as an operator's tooling would, through the JWT mount only:
 *   deno task demo:account add <name>            a new account (JWT into the mount, user creds)
 *   deno task demo:account limit <name> <n>      re-issue its JWT allowing at most n streams (-1: no limit)
 *   deno task demo:account remove <name>         its JWT leaves the mount
 *   deno task demo:account list                  each account: in the mount or removed, its data
 *
 * The running demo does the rest: mirror, push, live delete, purge. Account seeds are kept in the
 * demo folder's `accounts.json` (name -> seed); the `demo` account's in its `keys.json`.
 */

import { createAccount, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { join } from "node:path";
import { hasJetStreamData } from "../src/purge/jetstream_data.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { makeAccount, makeUser } from "../dev/jwt_fixtures.ts";
import type { DevSetup } from "../dev/dev_setup.ts";
import {
  commandForm,
  type DemoLocation,
  demoLocation,
  openDemoFolder,
  shownDir,
} from "./demo_setup.ts";
import { taskCommand } from "./demo_text.ts";

const USAGE = "add <name> | limit <name> <max-streams> | remove <name> | list";

/** Account names become file names (`users/<name>.creds`): keep them plain. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

class Demo {
  constructor(readonly location: DemoLocation, readonly setup: DevSetup) {}

  get registryPath(): string {
    return join(this.setup.dir, "accounts.json");
  }

  async registry(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await Deno.readTextFile(this.registryPath));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return {};
      throw error;
    }
  }

  /** Every known account, name -> key pair: the `demo` account, then those added here. */
  async accounts(): Promise<Map<string, KeyPair>> {
    const accounts = new Map<string, KeyPair>([["demo", this.setup.demo.kp]]);
    for (const [name, seed] of Object.entries(await this.registry())) {
      accounts.set(name, fromSeed(new TextEncoder().encode(seed)));
    }
    return accounts;
  }

  async account(name: string): Promise<KeyPair> {
    const kp = (await this.accounts()).get(name);
    if (!kp) {
      throw new Error(
        `no demo account named "${name}"; see: ${this.command(["list"])}`,
      );
    }
    return kp;
  }

  mountFile(pub: string): string {
    return join(this.setup.mountDir, `${pub}.jwt`);
  }

  command(args: string[]): string {
    return taskCommand(commandForm(this.location), "demo:account", args);
  }

  /** Writes the account's JWT into the mount, signed by the operator's signing key. */
  async mount(name: string, kp: KeyPair, limits: { streams?: number } = {}): Promise<void> {
    const account = await makeAccount(this.setup.operator, {
      name,
      key: kp,
      signer: this.setup.operator.signingKey!.kp,
      limits,
    });
    await writeFileAtomic(this.mountFile(account.pub), account.jwt + "\n", { mode: 0o644 });
  }
}

async function add(demo: Demo, name: string): Promise<string> {
  const known = (await demo.accounts()).get(name);
  if (known && await pathExists(demo.mountFile(known.getPublicKey()))) {
    throw new Error(`account ${name} is in the mount already; see: ${demo.command(["list"])}`);
  }
  // A fresh key even for a name used before: a removed account stays removed (and purged).
  const kp = createAccount();
  const seed = new TextDecoder().decode(kp.getSeed());
  const user = await makeUser(
    { name, pub: kp.getPublicKey(), seed, kp, jwt: "" },
    { name: `${name}-user` },
  );
  const credsPath = join(demo.setup.usersDir, `${name}.creds`);
  await writeFileAtomic(credsPath, user.creds);
  await writeFileAtomic(
    demo.registryPath,
    JSON.stringify({ ...(await demo.registry()), [name]: seed }, null, 2),
  );
  await demo.mount(name, kp);
  return `added account ${name} (${kp.getPublicKey()}) to the mount; its user's creds: ` +
    `${shownDir(credsPath)}`;
}

async function limit(demo: Demo, name: string, streams: number): Promise<string> {
  const kp = await demo.account(name);
  if (!(await pathExists(demo.mountFile(kp.getPublicKey())))) {
    throw new Error(`account ${name} is not in the mount (removed?); add it again first`);
  }
  await demo.mount(name, kp, { streams });
  const allowed = streams < 0
    ? "any number of streams"
    : `at most ${streams} stream${streams === 1 ? "" : "s"}`;
  return `account ${name} now allows ${allowed}: its new JWT is in the mount, and the demo ` +
    "pushes it to the running server";
}

async function remove(demo: Demo, name: string): Promise<string> {
  const kp = await demo.account(name);
  await Deno.remove(demo.mountFile(kp.getPublicKey())).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return `removed account ${name} (${kp.getPublicKey()}) from the mount: the demo deletes it ` +
    "live (its users are refused from now on) and purges its JetStream data after the grace " +
    "period its banner names";
}

async function list(demo: Demo): Promise<string> {
  const rows: string[][] = [];
  for (const [name, kp] of await demo.accounts()) {
    const pub = kp.getPublicKey();
    const mounted = await pathExists(demo.mountFile(pub));
    const data = await hasJetStreamData(join(demo.setup.storeDir, "jetstream", pub));
    const state = mounted
      ? `in the mount, ${data ? "has JetStream data" : "no JetStream data yet"}`
      : `removed, ${data ? "data not purged yet" : "data purged"}`;
    rows.push([name, pub, state]);
  }
  const width = Math.max(...rows.map(([name]) => name!.length));
  return rows.map(([name, pub, state]) => `${name!.padEnd(width)}  ${pub}  ${state}`).join("\n");
}

async function run(args: string[]): Promise<string> {
  const location = demoLocation(Deno.env.toObject());
  const [verb, name, value, ...rest] = args;
  const usage = () =>
    new Error(`usage: ${taskCommand(commandForm(location), "demo:account", [])} ${USAGE}`);
  if (rest.length > 0 || !verb) throw usage();
  if (name !== undefined && !NAME.test(name)) {
    throw new Error(`an account name is 1 to 64 letters, digits, "_" or "-", got "${name}"`);
  }
  const demo = new Demo(location, await openDemoFolder(location));
  if (verb === "list" && name === undefined) return await list(demo);
  if (verb === "add" && name && value === undefined) return await add(demo, name);
  if (verb === "remove" && name && value === undefined) return await remove(demo, name);
  if (verb === "limit" && name && value !== undefined) {
    const streams = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!(streams >= -1 && streams <= 1_000_000)) {
      throw new Error(`max-streams is a number from -1 (no limit) up, got "${value}"`);
    }
    return await limit(demo, name, streams);
  }
  throw usage();
}

if (import.meta.main) {
  try {
    console.log(await run(Deno.args));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
