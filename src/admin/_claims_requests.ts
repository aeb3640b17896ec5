/**
 * The request rounds behind `claims.ts`: every request of a round goes out at once, each with its
 * own reply subject under one wildcard inbox subscription; replies are collected until no reply
 * has arrived for `collectMs` (or every request has its expected replies); requests that got no
 * reply at all are sent again with backoff. Replies are parsed as JSON (their field order differs
 * between server versions). Private to the admin folder.
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
import { errorMessage, isRecord } from "../shared/errors.ts";
import { clip, quote } from "../shared/log.ts";
import { settledWithin } from "../shared/timing.ts";
import type { ClaimsRequestOptions, ClaimsResult, ServerReply } from "./claims.ts";

const DEFAULT_COLLECT_MS = 250;
const DEFAULT_RETRY_DELAY_MS = 250;
const DEFAULT_MAX_WAIT_MS = 30_000;

export interface ClaimsRequest {
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

export async function requestWithRetries(
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
      const closed = whenClosed(nc);
      await settledWithin(closed.promise, delay).finally(closed.release);
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
  const closed = whenClosed(nc);
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
    // A close ends the round at once: nats.js never settles a flush that is pending when the
    // connection is closed (close() drops the outstanding PONGs), and the quiet period would
    // otherwise hold the supervisor's exit for up to `collectMs`.
    const answeredOrClosed = Promise.race([allAnswered.promise, closed.promise]).catch(() => {});
    if (sendError === undefined) {
      await Promise.race([nc.flush(), closed.promise]).catch((error) => {
        flushError = errorMessage(error);
      });
    }
    const lastPublish = performance.now();
    lastActivity = Math.max(lastActivity, lastPublish);
    while (
      sendError === undefined && flushError === undefined && !sub.isClosed() &&
      !nc.isClosed() && complete < requests.length
    ) {
      const now = performance.now();
      const quietFor = now - lastActivity;
      if (quietFor >= options.collectMs || now - lastPublish >= options.maxWaitMs) break;
      // Sleep until the earliest moment the quiet period could be over (or every request has
      // its expected replies), then look again.
      await settledWithin(answeredOrClosed, Math.ceil(options.collectMs - quietFor));
    }
    if (nc.isClosed()) {
      const lost = flushError ?? "closed connection";
      for (const outcome of outcomes) {
        if (outcome.replies.length === 0 && outcome.sendError === undefined) outcome.lost = lost;
      }
    }
  } finally {
    sub.unsubscribe();
    closed.release();
  }
  return outcomes;
}

/** How many request rounds or retry waits still wait for `nc` to close (for tests: none after). */
export function waitingForClose(nc: NatsConnection): number {
  return closeWaiters.get(nc)?.size ?? 0;
}

/** Per connection: who waits for it to close (one reaction on `nc.closed()` serves them all). */
const closeWaiters = new WeakMap<NatsConnection, Set<() => void>>();

/**
 * A promise that rejects with a {@linkcode ClosedConnectionError} when `nc` closes, and `release`
 * to stop waiting. Not `nc.closed()` itself: a reaction on that promise stays until the connection
 * closes and holds what the waiting closure holds, so every round kept its requests alive (found
 * in a heap snapshot: the 10,000 JWTs of the push after start, 7 MB, held for the connection's
 * life, and more with every push).
 */
function whenClosed(nc: NatsConnection): { promise: Promise<never>; release: () => void } {
  const { promise, reject } = Promise.withResolvers<never>();
  promise.catch(() => {/* a caller that stopped waiting does not care */});
  const waiters = closeWaitersOf(nc);
  const wake = () => reject(new ClosedConnectionError());
  waiters.add(wake);
  if (nc.isClosed()) wake();
  const release = () => void waiters.delete(wake);
  return { promise, release };
}

/**
 * The waiters of `nc`'s close, with the one reaction on `nc.closed()` that wakes them. A function
 * of its own: a closure shares its enclosing function's context, and one made in `whenClosed`
 * would hold the first caller's `reject` (and so its round) for the connection's life.
 */
function closeWaitersOf(nc: NatsConnection): Set<() => void> {
  const known = closeWaiters.get(nc);
  if (known !== undefined) return known;
  const waiters = new Set<() => void>();
  closeWaiters.set(nc, waiters);
  void nc.closed().then(() => {
    for (const wake of waiters) wake();
    waiters.clear();
  });
  return waiters;
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
