/**
 * Test fixtures: operators, accounts and users with real keys and signed JWTs, made with
 * `@nats-io/jwt` (a test-only dependency) so runtime code is checked against an independent encoder.
 *
 * Account JWTs carry the full limits block a real nats-server needs (`conn: 0`, the library's default,
 * would let no user connect); the system account carries no JetStream limits, because the server
 * refuses to start with `Not allowed to enable JetStream on the system account`.
 *
 * @module
 */

import { issuedAt } from "../src/mirror/plan.ts";
import { pollUntil } from "./poll.ts";
import {
  Algorithms,
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  type KeyPair,
  type OperatorLimits,
} from "@nats-io/jwt";

/** A key pair with its public key and seed as strings. */
export interface FixtureKey {
  pub: string;
  seed: string;
  kp: KeyPair;
}

/** An operator with its self-signed JWT and, if asked for, one signing key listed in it. */
export interface FixtureOperator extends FixtureKey {
  name: string;
  jwt: string;
  signingKey?: FixtureKey;
}

/** An account with its JWT, signed by the operator or one of its signing keys. */
export interface FixtureAccount extends FixtureKey {
  name: string;
  jwt: string;
}

/** A user with its JWT and a `.creds` file's text. */
export interface FixtureUser extends FixtureKey {
  name: string;
  jwt: string;
  creds: string;
}

/** `-1` (unlimited) for everything a plain account needs to let users connect and publish. */
export const UNLIMITED_ACCOUNT_LIMITS: Readonly<OperatorLimits> = Object.freeze({
  conn: -1,
  subs: -1,
  payload: -1,
  data: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  leaf: -1,
});

/** `-1` (unlimited) JetStream limits; present only on accounts that may use JetStream. */
export const UNLIMITED_JETSTREAM_LIMITS: Readonly<OperatorLimits> = Object.freeze({
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
});

function fixtureKey(kp: KeyPair): FixtureKey {
  return { pub: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()), kp };
}

/** Makes an operator; with `signingKey: true` its JWT lists one operator signing key. */
export async function makeOperator(
  options: { name?: string; signingKey?: boolean } = {},
): Promise<FixtureOperator> {
  const name = options.name ?? "OP";
  const identity = fixtureKey(createOperator());
  const signingKey = options.signingKey ? fixtureKey(createOperator()) : undefined;
  const jwt = await encodeOperator(
    name,
    identity.kp,
    signingKey ? { signing_keys: [signingKey.pub] } : {},
  );
  return signingKey ? { ...identity, name, jwt, signingKey } : { ...identity, name, jwt };
}

/**
 * Makes an account signed by `signer` (default: the operator's identity key; pass
 * `operator.signingKey!.kp` to sign with the signing key, or any other key pair to make an untrusted
 * JWT). `jetstream` defaults to true. `limits` are merged over the unlimited defaults. `exp` and
 * `nbf` are in seconds since the epoch.
 */
export async function makeAccount(
  operator: FixtureOperator,
  options: {
    name: string;
    signer?: KeyPair;
    jetstream?: boolean;
    limits?: Partial<OperatorLimits>;
    exp?: number;
    nbf?: number;
    algorithm?: "v1" | "v2";
    /** Re-issue a JWT for this existing account key instead of making a new one. */
    key?: KeyPair;
  },
): Promise<FixtureAccount> {
  const account = fixtureKey(options.key ?? createAccount());
  const limits: OperatorLimits = {
    ...UNLIMITED_ACCOUNT_LIMITS,
    ...(options.jetstream ?? true ? UNLIMITED_JETSTREAM_LIMITS : {}),
    ...options.limits,
  };
  const jwt = await encodeAccount(options.name, account.pub, { limits }, {
    signer: options.signer ?? operator.kp,
    algorithm: options.algorithm === "v1" ? Algorithms.v1 : Algorithms.v2,
    ...(options.exp !== undefined ? { exp: options.exp } : {}),
    ...(options.nbf !== undefined ? { nbf: options.nbf } : {}),
  });
  return { ...account, name: options.name, jwt };
}

/** Makes the system account (`SYS`): full connection limits, no JetStream limits. */
export function makeSystemAccount(
  operator: FixtureOperator,
  options: { name?: string } = {},
): Promise<FixtureAccount> {
  return makeAccount(operator, { name: options.name ?? "SYS", jetstream: false });
}

/**
 * Makes a user of `account`, signed by the account's identity key, with its `.creds` text. `exp` is
 * in seconds since the epoch (a past one makes creds the server refuses as expired).
 */
export async function makeUser(
  account: FixtureAccount,
  options: { name: string; exp?: number },
): Promise<FixtureUser> {
  const user = fixtureKey(createUser());
  const jwt = await encodeUser(
    options.name,
    user.kp,
    account.kp,
    {},
    options.exp !== undefined ? { exp: options.exp } : {},
  );
  const creds = new TextDecoder().decode(fmtCreds(jwt, user.kp));
  return { ...user, name: options.name, jwt, creds };
}

/**
 * Signs arbitrary claims under an arbitrary header (v2: `header.payload` is signed), to make JWTs
 * the fixture library refuses to make: a wrong type, a hostile `sub`, a megabyte `typ`.
 */
export function signClaims(
  claims: Record<string, unknown>,
  kp: KeyPair,
  header: Record<string, unknown> = { typ: "JWT", alg: "ed25519-nkey" },
): string {
  // Not String.fromCharCode(...bytes): a megabyte of arguments overflows the stack.
  const base64Url = (bytes: Uint8Array) =>
    btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join("")).replaceAll("+", "-")
      .replaceAll("/", "_").replace(/=+$/, "");
  const encode = (value: unknown) => base64Url(new TextEncoder().encode(JSON.stringify(value)));
  const headerPart = encode(header);
  const payloadPart = encode(claims);
  const signature = kp.sign(new TextEncoder().encode(`${headerPart}.${payloadPart}`));
  return `${headerPart}.${payloadPart}.${base64Url(signature)}`;
}

/**
 * Waits until the clock is `seconds` past `jwt`'s `iat`, so that a JWT made now is newer (a
 * resolver JWT is only ever replaced by a newer one; `iat` has whole seconds).
 */
export async function untilNewerThan(jwt: string, seconds = 1): Promise<void> {
  const iat = issuedAt(jwt) ?? 0;
  await pollUntil("the next second", () => Date.now() / 1000 >= iat + seconds);
}
