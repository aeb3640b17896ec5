/**
 * Adds or removes an account in the demo's JWT mount, as an operator's tooling would:
 *   deno run -A scripts/demo_account.ts add <name>     (JWT into the mount, user creds into .demo/users)
 *   deno run -A scripts/demo_account.ts remove <name>
 *   deno run -A scripts/demo_account.ts list
 */

import { createAccount, fromSeed } from "@nats-io/nkeys";
import { join } from "node:path";
import { makeAccount, makeUser } from "../dev/jwt_fixtures.ts";
import { writeFileAtomic } from "../src/mirror/files.ts";
import { DEMO_DIR, openDemo } from "./demo.ts";

const REGISTRY = join(DEMO_DIR, "accounts.json");

async function readRegistry(): Promise<Record<string, string>> {
  try {
    return JSON.parse(await Deno.readTextFile(REGISTRY));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw error;
  }
}

async function addAccount(name: string): Promise<void> {
  const setup = await openDemo("nats-server");
  const registry = await readRegistry();
  const key = registry[name] ? fromSeed(new TextEncoder().encode(registry[name])) : createAccount();
  const account = await makeAccount(setup.operator, {
    name,
    key,
    signer: setup.operator.signingKey!.kp,
  });
  const user = await makeUser(account, { name: `${name}-user` });
  await writeFileAtomic(join(setup.usersDir, `${name}.creds`), user.creds);
  registry[name] = account.seed;
  await writeFileAtomic(REGISTRY, JSON.stringify(registry, null, 2));
  await writeFileAtomic(join(setup.mountDir, `${account.pub}.jwt`), account.jwt + "\n", {
    mode: 0o644,
  });
  console.log(`added account ${name} (${account.pub}); user creds: .demo/users/${name}.creds`);
}

async function removeAccount(name: string): Promise<void> {
  const setup = await openDemo("nats-server");
  const registry = await readRegistry();
  const seed = registry[name];
  if (!seed) throw new Error(`no demo account named "${name}"; see: demo_account.ts list`);
  const pub = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  await Deno.remove(join(setup.mountDir, `${pub}.jwt`)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  console.log(`removed account ${name} (${pub}) from the mount`);
}

if (import.meta.main) {
  const [verb, name] = Deno.args;
  try {
    if (verb === "add" && name) await addAccount(name);
    else if (verb === "remove" && name) await removeAccount(name);
    else if (verb === "list") console.log(Object.keys(await readRegistry()).join("\n"));
    else throw new Error("usage: demo_account.ts add <name> | remove <name> | list");
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
