/**
 * Accounts in a test setup's mount, the way an operator adds and removes them: a JWT file appears
 * in (or leaves) `NATS_JWT_MOUNT_DIR`, and the supervisor does the rest.
 */

import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeFileAtomic } from "../../src/mirror/writes.ts";
import { pathExists } from "../../src/shared/path_exists.ts";
import { type FixtureAccount, makeAccount, makeUser } from "../../dev/jwt_fixtures.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { pollUntil } from "../../dev/poll.ts";
import type { TempSetup } from "./setup.ts";

/** A mounted account and a connected user of it. */
export interface MountedAccount {
  account: FixtureAccount;
  nc: NatsConnection;
  /** The user's creds, to connect again. */
  creds: string;
}

/**
 * Puts a new account's JWT into the mount and returns a connected user once the server knows it.
 * A refused connect takes ~2 s to fail, so it waits for the mirrored file before connecting.
 */
export async function addAccount(setup: TempSetup, name: string): Promise<MountedAccount> {
  const account = await makeAccount(setup.operator, {
    name,
    signer: setup.operator.signingKey!.kp,
  });
  const user = await makeUser(account, { name: `${name}-user` });
  await writeFileAtomic(join(setup.mountDir, `${account.pub}.jwt`), account.jwt + "\n");
  await pollUntil(
    `${name}'s JWT in the resolver dir`,
    () => pathExists(join(setup.jwtDir, `${account.pub}.jwt`)),
  );
  const nc = await pollUntil(
    `a user of ${name} to connect`,
    () => connectWithCreds(setup.clientUrl, user.creds),
  );
  return { account, nc, creds: user.creds };
}

/** Removes an account's JWT from the mount (a genuine removal). */
export async function removeFromMount(setup: TempSetup, account: { pub: string }): Promise<void> {
  await Deno.remove(join(setup.mountDir, `${account.pub}.jwt`));
}

/** Where the account's JetStream data lives. */
export function accountDir(setup: TempSetup, account: { pub: string }): string {
  return join(setup.storeDir, "jetstream", account.pub);
}

/** The path of the account's JWT in the resolver dir. */
export function resolverFile(setup: TempSetup, account: { pub: string }): string {
  return join(setup.jwtDir, `${account.pub}.jwt`);
}
