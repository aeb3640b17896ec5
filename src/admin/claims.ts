/**
 * Account JWTs to and from the running server over the system account connection:
 * `$SYS.REQ.CLAIMS.UPDATE` applies a new or changed account JWT live, `$SYS.REQ.CLAIMS.DELETE`
 * removes accounts live (their connections close, their file becomes `<pub>.jwt.deleted`).
 *
 * Requests are pipelined: every request goes out at once, each with its own reply subject under
 * one wildcard inbox subscription, and replies are collected until no reply has arrived for
 * `collectMs` (in a cluster every server with a full resolver answers, so there may be several per
 * request). Requests that got no reply at all are sent again with backoff, and finally reported as
 * failed. Replies are parsed as JSON (their field order differs between server versions).
 *
 * The server does not check what it stores (it answers 200 for a JWT of a foreign operator):
 * callers push only JWTs that passed `checkAccountJwt`.
 *
 * @module
 */

import {
  ClosedConnectionError,
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { encodeGeneric } from "@nats-io/jwt";
import { fromSeed, type KeyPair } from "@nats-io/nkeys";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { clip, type Logger, quote } from "../shared/log.ts";
import { errorMessage, isRecord } from "../shared/errors.ts";
import { settledWithin } from "../shared/timing.ts";

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

const DEFAULT_COLLECT_MS = 250;
const DEFAULT_RETRY_DELAY_MS = 250;
const DEFAULT_MAX_WAIT_MS = 30_000;
/** Longest reason quoted in a log line (a reply can carry a whole JWT's worth of text). */
const MAX_ERROR_CHARS = 200;
/** Accounts per delete request: keeps the signed request far below the default 1 MB max_payload. */
const DELETE_CHUNK = 1000;

/**
 * Pushes account JWTs with `$SYS.REQ.CLAIMS.UPDATE` (payload: the trimmed JWT). An account listed
 * twice is pushed once, with its last JWT. Error replies are logged with the server, the account
 * and the server's description.
 *
 * @returns one result per account, in input order
 * @throws {TypeError} when an entry's account is not an account public key (nothing is sent then)
 */
export async function pushClaims(
  nc: NatsConnection,
  jwts: readonly { account: string; jwt: string }[],
  options: ClaimsRequestOptions,
): Promise<PushResult[]> {
  const byAccount = new Map<string, string>();
  for (const { account, jwt } of jwts) {
    assertAccountKey(account);
    byAccount.delete(account);
    byAccount.set(account, jwt.trim());
  }
  if (byAccount.size === 0) return [];
  const started = performance.now();
  const requests = [...byAccount].map(([account, jwt]) => ({ accounts: [account], payload: jwt }));
  const results = await requestWithRetries(nc, CLAIMS_UPDATE_SUBJECT, requests, {
    attempts: 5,
    ...options,
    what: "account JWT push",
  });
  const failed = results.filter((result) => !result.ok).length;
  const fields = {
    accounts: results.length,
    failed,
    ms: Math.round(performance.now() - started),
  };
  if (failed > 0) {
    options.log.warn("pushed account JWTs to the server; some failed", {
      ...fields,
      error: firstError(results),
    });
  } else options.log.info("pushed account JWTs to the server", fields);
  return results;
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
  for (let i = 0; i < unique.length; i += DELETE_CHUNK) {
    const chunk = unique.slice(i, i + DELETE_CHUNK);
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

interface ClaimsRequest {
  accounts: string[];
  payload: string;
}

type Reply = ServerReply & { failed: boolean };

/** What one round learned about one request. */
interface RoundOutcome {
  replies: Reply[];
  noResponders: boolean;
  /** Set when the request could not be sent. */
  sendError?: string;
  /** Set when the connection closed before the request was answered. */
  lost?: string;
}

async function requestWithRetries(
  nc: NatsConnection,
  subject: string,
  requests: ClaimsRequest[],
  options: ClaimsRequestOptions & { attempts: number; what: string },
): Promise<ClaimsResult[]> {
  const { log, what } = options;
  const attempts = Math.max(1, options.attempts);
  const collectMs = options.collectMs ?? DEFAULT_COLLECT_MS;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  let delay = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const outcomes = new Map<ClaimsRequest, RoundOutcome>();
  let pending = requests;
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) {
      log.warn(`${what}: no server answered; sending again`, {
        requests: pending.length,
        attempt: `${attempt}/${attempts}`,
      });
      // A connection closed meanwhile ends the wait: the next round reports it at once.
      await settledWithin(nc.closed(), delay);
      delay *= 2;
    }
    const round = await requestRound(nc, subject, pending, {
      collectMs,
      maxWaitMs,
      expectedReplies: options.expectedReplies,
    });
    pending.forEach((request, index) => outcomes.set(request, round[index]!));
    // Only silence is retried: an error reply is the server's considered answer, "no
    // responders" means nothing on this server handles the subject, and a request that could not
    // be sent (the connection is closed) cannot be sent again over it.
    pending = pending.filter((_, index) => {
      const outcome = round[index]!;
      return outcome.replies.length === 0 && !outcome.noResponders &&
        outcome.sendError === undefined && outcome.lost === undefined;
    });
  }

  const results: ClaimsResult[] = [];
  for (const request of requests) {
    const outcome = outcomes.get(request) ?? { replies: [], noResponders: false };
    const servers = outcome.replies.map(({ server, code, message }) => ({ server, code, message }));
    for (const reply of outcome.replies.filter((reply) => reply.failed)) {
      log.error(`${what} rejected by the server`, {
        server: reply.server,
        account: request.accounts.length === 1 ? request.accounts[0] : undefined,
        accounts: request.accounts.length === 1 ? undefined : request.accounts.length,
        code: reply.code,
        error: reply.message,
      });
    }
    let error: string | undefined;
    if (outcome.replies.length === 0) {
      error = outcome.sendError !== undefined
        ? `could not send ${subject}: ${outcome.sendError}`
        : outcome.lost !== undefined
        ? `the connection closed before any server answered ${subject}: ${outcome.lost}`
        : outcome.noResponders
        ? `no responders for ${subject}: the server has no full resolver (or the connection is ` +
          `not a system account user)`
        : `no server answered ${subject} after ${attempts} attempt${attempts === 1 ? "" : "s"}`;
    } else if (outcome.replies.some((reply) => reply.failed)) {
      error = outcome.replies.filter((reply) => reply.failed)
        .map((reply) => `${reply.server}: ${reply.message}`).join("; ");
    }
    for (const account of request.accounts) {
      const result: ClaimsResult = { account, ok: error === undefined, servers };
      if (error !== undefined) result.error = error;
      results.push(result);
    }
  }
  return results;
}

/**
 * Sends every request once and collects replies until none has arrived for `collectMs` after the
 * last publish (at most `maxWaitMs`).
 * @returns one outcome per request, in order
 */
async function requestRound(
  nc: NatsConnection,
  subject: string,
  requests: ClaimsRequest[],
  options: { collectMs: number; maxWaitMs: number; expectedReplies: number | undefined },
): Promise<RoundOutcome[]> {
  const outcomes: RoundOutcome[] = requests.map(() => ({ replies: [], noResponders: false }));
  const prefix = createInbox();
  let lastActivity = performance.now();
  const expected = options.expectedReplies ?? Infinity;
  let complete = 0;
  const allAnswered = Promise.withResolvers<void>();
  const onReply = (error: Error | null, msg: Msg) => {
    if (error) return; // The subscription ends; the round ends with what it has.
    const index = Number(msg.subject.slice(prefix.length + 1));
    const outcome = outcomes[index];
    if (outcome === undefined) return;
    lastActivity = performance.now();
    if (msg.headers?.code === 503) outcome.noResponders = true;
    else outcome.replies.push(parseReply(msg));
    if (outcome.replies.length === expected && ++complete === requests.length) {
      allAnswered.resolve();
    }
  };
  let sub: Subscription;
  try {
    sub = nc.subscribe(`${prefix}.*`, { callback: onReply });
  } catch (error) {
    // A closed connection throws here (ClosedConnectionError): a result, not an exception.
    const sendError = errorMessage(error);
    return outcomes.map((outcome) => ({ ...outcome, sendError }));
  }
  try {
    let sendError: string | undefined;
    for (let index = 0; index < requests.length; index++) {
      try {
        nc.publish(subject, requests[index]!.payload, { reply: `${prefix}.${index}` });
      } catch (error) {
        sendError = errorMessage(error);
        for (const outcome of outcomes.slice(index)) outcome.sendError = sendError;
        break;
      }
    }
    let flushError: string | undefined;
    if (sendError === undefined) {
      // nats.js never settles a flush that is pending when the connection is closed (close()
      // drops the outstanding PONGs): without the race, a push hangs the supervisor's exit.
      const closed = nc.closed().then(() => {
        throw new ClosedConnectionError();
      });
      closed.catch(() => {/* settles when the connection closes, often long after this round */});
      await Promise.race([nc.flush(), closed]).catch((error) => {
        flushError = errorMessage(error);
      });
    }
    const lastPublish = performance.now();
    lastActivity = Math.max(lastActivity, lastPublish);
    while (
      sendError === undefined && flushError === undefined && !sub.isClosed() &&
      complete < requests.length
    ) {
      const now = performance.now();
      const quietFor = now - lastActivity;
      if (quietFor >= options.collectMs || now - lastPublish >= options.maxWaitMs) break;
      // Sleep until the earliest moment the quiet period could be over (or every request has
      // its expected replies), then look again.
      await settledWithin(allAnswered.promise, Math.ceil(options.collectMs - quietFor));
    }
    if (nc.isClosed()) {
      const lost = flushError ?? "closed connection";
      for (const outcome of outcomes) {
        if (outcome.replies.length === 0 && outcome.sendError === undefined) outcome.lost = lost;
      }
    }
  } finally {
    sub.unsubscribe();
  }
  return outcomes;
}

/**
 * Parses a claims reply: `{server: {name}, data: {code, message}}` or `{..., error: {code,
 * description}}`. The server's name and words are bounded ({@linkcode clip}): a reply may be as
 * large as the server's max_payload, and every failed one is logged and joined into an error.
 */
function parseReply(msg: Msg): Reply {
  let body: unknown;
  try {
    body = msg.json();
  } catch {
    return {
      server: "?",
      code: 0,
      message: `unparsable reply: ${quote(msg.string())}`,
      failed: true,
    };
  }
  const record = isRecord(body) ? body : {};
  const server = isRecord(record.server) && typeof record.server.name === "string"
    ? clip(record.server.name)
    : "?";
  if (isRecord(record.error)) {
    const { code, description } = record.error;
    return {
      server,
      code: typeof code === "number" ? code : 0,
      message: clip(typeof description === "string" ? description : JSON.stringify(record.error)),
      failed: true,
    };
  }
  if (isRecord(record.data)) {
    const { code, message } = record.data;
    const numeric = typeof code === "number" ? code : 0;
    return {
      server,
      code: numeric,
      message: typeof message === "string" ? clip(message) : "",
      failed: numeric !== 200,
    };
  }
  return { server, code: 0, message: `unexpected reply: ${quote(msg.string())}`, failed: true };
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
