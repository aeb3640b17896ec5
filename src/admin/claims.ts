/**
 * Account JWTs to and from the running server over the system account connection:
 * `$SYS.REQ.CLAIMS.UPDATE` applies a new or changed account JWT live, `$SYS.REQ.CLAIMS.DELETE`
 * removes accounts live (their connections close, their file becomes `<pub>.jwt.deleted`).
 *
 * Requests are pipelined (`_claims_requests.ts`): every request goes out at once and replies are
 * collected until quiet (in a cluster every server with a full resolver answers, so there may be
 * several per request). Requests that got no reply at all are sent again with backoff, and finally
 * reported as failed.
 *
 * The server does not check what it stores (it answers 200 for a JWT of a foreign operator):
 * callers push only JWTs that passed `checkAccountJwt`.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { encodeGeneric } from "@nats-io/jwt";
import { fromSeed, type KeyPair } from "@nats-io/nkeys";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { type Logger, quote } from "../shared/log.ts";
import { errorMessage } from "../shared/errors.ts";
import { requestWithRetries } from "./_claims_requests.ts";

export const CLAIMS_UPDATE_SUBJECT = "$SYS.REQ.CLAIMS.UPDATE";
export const CLAIMS_DELETE_SUBJECT = "$SYS.REQ.CLAIMS.DELETE";

/** One server's answer to a request. `code` 200 is success; `message` is the server's text. */
export interface ServerReply {
  server: string;
  code: number;
  message: string;
}

/** The outcome for one account: `ok` when at least one server answered and every answer was 200. */
export interface ClaimsResult {
  account: string;
  ok: boolean;
  servers: ServerReply[];
  /** Why it failed: the servers' error descriptions, or that no server answered. */
  error?: string;
}

export type PushResult = ClaimsResult;
export type DeleteResult = ClaimsResult;

export interface ClaimsRequestOptions {
  log: Logger;
  /** Replies are collected until none has arrived for this long (ms, default 250). */
  collectMs?: number;
  /** Rounds for requests that got no reply at all (default 5 for pushes, 3 for deletes). */
  attempts?: number;
  /** Delay before the first resend (ms, default 250), doubling each round. */
  retryDelayMs?: number;
  /** Upper bound of one round's wait for replies after the last publish (ms, default 30 s). */
  maxWaitMs?: number;
  /**
   * How many servers are known to answer (e.g. learned from an earlier full collection): a round
   * ends as soon as every request has this many replies, instead of waiting `collectMs` of quiet.
   */
  expectedReplies?: number;
}

/** Longest reason quoted in a log line (a reply can carry a whole JWT's worth of text). */
const MAX_ERROR_CHARS = 200;
/** Accounts per delete request: keeps the signed request far below the default 1 MB max_payload. */
const DELETE_CHUNK = 1000;

/**
 * JWTs of one push in flight at once. A push of 100,000 accounts sent as one round held every
 * request, its outcome and the client's 75 MB of outbound protocol at once (measured: RSS past
 * 500 MB); in chunks the server is kept as busy (it stores each JWT as it comes) and the memory
 * is a chunk's.
 */
export const PUSH_CHUNK = 1000;

/**
 * Pushes account JWTs with `$SYS.REQ.CLAIMS.UPDATE` (payload: the trimmed JWT), {@linkcode
 * PUSH_CHUNK} at a time, taking them from `jwts` as it goes (an iterable that reads files lazily
 * holds only a chunk). An account listed twice is pushed once, with its last JWT (within a chunk;
 * across chunks it is pushed again, and the last result counts). Error replies are logged with
 * the server, the account and the server's description. Without `expectedReplies`, the first
 * chunk collects every reply and the next ones expect as many servers as answered it.
 *
 * @returns one result per account, in input order of its first appearance
 * @throws {TypeError} when an entry's account is not an account public key (nothing of its chunk
 *   is sent then; an array input is checked whole first, so nothing at all)
 */
export async function pushClaims(
  nc: NatsConnection,
  jwts: Iterable<{ account: string; jwt: string }>,
  options: ClaimsRequestOptions,
): Promise<PushResult[]> {
  const checked = Array.isArray(jwts);
  if (checked) jwts.forEach(({ account }) => assertAccountKey(account));
  const started = performance.now();
  const results = new Map<string, PushResult>();
  let expectedReplies = options.expectedReplies;
  for (const chunk of chunksOf(jwts, PUSH_CHUNK)) {
    const byAccount = new Map<string, string>();
    for (const { account, jwt } of chunk) {
      if (!checked) assertAccountKey(account);
      byAccount.delete(account);
      byAccount.set(account, jwt.trim());
    }
    const requests = [...byAccount].map(([account, jwt]) => ({
      accounts: [account],
      payload: jwt,
    }));
    const chunkResults = await requestWithRetries(nc, CLAIMS_UPDATE_SUBJECT, requests, {
      attempts: 5,
      ...options,
      ...(expectedReplies === undefined ? {} : { expectedReplies }),
      what: "account JWT push",
    });
    for (const result of chunkResults) results.set(result.account, result);
    if (expectedReplies === undefined) {
      const servers = answeringServerCount(chunkResults);
      if (servers > 0) expectedReplies = servers;
    }
  }
  if (results.size === 0) return [];
  const all = [...results.values()];
  const failed = all.filter((result) => !result.ok).length;
  const fields = {
    accounts: all.length,
    failed,
    ms: Math.round(performance.now() - started),
  };
  if (failed > 0) {
    options.log.warn("pushed account JWTs to the server; some failed", {
      ...fields,
      error: firstError(all),
    });
  } else options.log.info("pushed account JWTs to the server", fields);
  return all;
}

/** How many distinct servers answered any of `results`. */
export function answeringServerCount(results: readonly ClaimsResult[]): number {
  return new Set(results.flatMap((r) => r.servers.map((s) => s.server))).size;
}

/** The items of `items` in arrays of at most `size`, taken as they are needed. */
function* chunksOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = [];
  for (const item of items) {
    chunk.push(item);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Deletes accounts live with `$SYS.REQ.CLAIMS.DELETE`: a generic JWT listing them, signed by the
 * operator or an operator signing key (the resolver needs `allow_delete: true`). The server
 * answers per request, so every account of one request shares its outcome.
 *
 * @param signingKeySeed an operator seed (`SO...`), e.g. the content of
 * `POT_NATS_OPERATOR_SIGNING_KEY`'s file; surrounding whitespace is ignored
 * @returns one result per account, in input order (duplicates removed)
 * @throws {TypeError} when an account is not an account public key or the seed is not an
 * operator seed (nothing is sent then)
 */
export async function deleteAccounts(
  nc: NatsConnection,
  accounts: readonly string[],
  signingKeySeed: string,
  options: ClaimsRequestOptions,
): Promise<DeleteResult[]> {
  const unique = [...new Set(accounts)];
  unique.forEach(assertAccountKey);
  const signer = operatorKeyPair(signingKeySeed);
  if (unique.length === 0) return [];
  const requests: { accounts: string[]; payload: string }[] = [];
  for (const chunk of chunksOf(unique, DELETE_CHUNK)) {
    requests.push({ accounts: chunk, payload: await encodeDeleteRequest(chunk, signer) });
  }
  const results = await requestWithRetries(nc, CLAIMS_DELETE_SUBJECT, requests, {
    attempts: 3,
    ...options,
    what: "account delete",
  });
  const failed = results.filter((result) => !result.ok).length;
  const fields = { accounts: results.length, failed };
  if (failed > 0) {
    options.log.warn("deleted accounts on the server; some failed", {
      ...fields,
      error: firstError(results),
    });
  } else options.log.info("deleted accounts on the server", fields);
  return results;
}

/**
 * Encodes the body of a `$SYS.REQ.CLAIMS.DELETE` request: a v2 generic JWT, self-signed (`iss` =
 * `sub` = the signer's public key, which must be the operator or one of its signing keys), with
 * `nats: {accounts: [...], type: "generic", version: 2}`, made by `@nats-io/jwt`'s
 * `encodeGeneric` (the server verifies it).
 *
 * @param signer an operator key pair with its seed, or the seed itself
 * @throws {TypeError} when the seed is not an operator seed
 */
export async function encodeDeleteRequest(
  accounts: readonly string[],
  signer: KeyPair | string,
): Promise<string> {
  const kp = typeof signer === "string" ? operatorKeyPair(signer) : signer;
  return await encodeGeneric("pot-nats account delete", kp, "generic", {
    accounts: [...accounts],
  });
}

/** The first failure's reason, shortened for a log line; undefined when nothing failed. */
export function firstError(results: readonly ClaimsResult[]): string | undefined {
  const error = results.find((result) => !result.ok)?.error;
  return error !== undefined && error.length > MAX_ERROR_CHARS
    ? `${error.slice(0, MAX_ERROR_CHARS)}…`
    : error;
}

function assertAccountKey(account: string): void {
  if (!isAccountPublicKey(account)) {
    throw new TypeError(`not an account public key: ${quote(account)}`);
  }
}

function operatorKeyPair(seed: string): KeyPair {
  let kp: KeyPair;
  try {
    kp = fromSeed(new TextEncoder().encode(seed.trim()));
  } catch (error) {
    // Never quote the seed: it is a secret.
    throw new TypeError(`the signing key is not an nkey seed (${errorMessage(error)})`);
  }
  const role = kp.getPublicKey().slice(0, 1);
  if (role !== "O") {
    throw new TypeError(
      `the signing key must be an operator seed (SO...), got the seed of a ${role}... key`,
    );
  }
  return kp;
}
