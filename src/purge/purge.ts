/**
 * Purges one account's JetStream data with `$JS.API.ACCOUNT.PURGE.<account>` (as a system account
 * user, empty payload) and checks that it really happened.
 *
 * The server answers `initiated: true` for any name at all, so the name is checked before anything
 * is sent, and success is not taken from the reply: it is the account's directory under
 * `<store_dir>/jetstream/` disappearing. A timeout (in a cluster only the JetStream meta leader
 * answers), a 503 (meta leader recovering) or a directory that is still there is retried with
 * backoff, at most `attempts` times, so an account that never goes away is not retried forever.
 *
 * This module does not decide whether an account may be purged: that is `planPurge`.
 *
 * @module
 */

import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  type NatsConnection,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { clip, type Logger, quote, show } from "../shared/log.ts";
import { hasJetStreamData } from "./jetstream_data.ts";
import { isRecord } from "../shared/errors.ts";

export interface PurgeAccountOptions {
  /** `<store_dir>/jetstream`: the directory holding one directory per account. */
  jetstreamDir: string;
  log: Logger;
  /** Never purged, whatever the caller asks (the server itself refuses it only from 2.10.27 on). */
  systemAccount?: string;
  /** Timeout of one purge request (ms, default 5000). */
  timeoutMs?: number;
  /** Requests before giving up (default 3). */
  attempts?: number;
  /** Delay before the second request (ms, default 500), doubling after each. */
  retryDelayMs?: number;
  /** How long to wait for the account's directory to disappear after `initiated: true` (ms, default 10 s). */
  verifyTimeoutMs?: number;
  /** Ends the waits (retry delays, the wait for the directory) when the supervisor stops. */
  signal?: AbortSignal;
}

/** What happened to one account: `purged` only when its directory is gone. */
export interface PurgeResult {
  account: string;
  purged: boolean;
  /** What happened, for the log. */
  reason: string;
}

export const ACCOUNT_PURGE_SUBJECT_PREFIX = "$JS.API.ACCOUNT.PURGE.";

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_RETRY_DELAY_MS = 500;
const DEFAULT_VERIFY_TIMEOUT_MS = 10_000;
const VERIFY_INTERVAL_MS = 50;

/**
 * Purges the JetStream data of `account` and waits until its directory is gone.
 * @returns the outcome; never throws (every failure is a result with a reason, and is logged)
 */
export async function purgeAccount(
  nc: NatsConnection,
  account: string,
  options: PurgeAccountOptions,
): Promise<PurgeResult> {
  const { log } = options;
  const fail = (reason: string): PurgeResult => {
    log.error(`JetStream purge of account ${show(account)} failed: ${reason}`, { account });
    return { account, purged: false, reason };
  };
  if (!isAccountPublicKey(account)) {
    return fail("refused: not an account public key (the server would purge any name)");
  }
  if (account === options.systemAccount) return fail("refused: it is the system account");

  try {
    return await purgeChecked(nc, account, options, fail);
  } catch (error) {
    if (options.signal?.aborted) {
      const reason = "stopped before it was verified: the supervisor is shutting down";
      log.info(`JetStream purge of account ${show(account)} ${reason}`, { account });
      return { account, purged: false, reason };
    }
    // A failure to look at the directory (permissions, I/O): report it rather than throw.
    return fail(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function purgeChecked(
  nc: NatsConnection,
  account: string,
  options: PurgeAccountOptions,
  fail: (reason: string) => PurgeResult,
): Promise<PurgeResult> {
  const { log } = options;
  const accountDir = join(options.jetstreamDir, account);
  if (!(await hasJetStreamData(accountDir))) {
    return { account, purged: true, reason: `no JetStream data under ${accountDir}` };
  }

  const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
  let delay = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      log.warn(`JetStream purge of account ${account}: ${lastProblem}; trying again`, {
        account,
        attempt: `${attempt}/${attempts}`,
      });
      await sleep(delay, undefined, { signal: options.signal });
      delay *= 2;
    }
    const answer = await requestPurge(nc, account, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (answer.kind === "final") return fail(answer.problem);
    if (answer.kind === "retry") {
      lastProblem = answer.problem;
      continue;
    }
    const gone = await waitUntilGone(
      accountDir,
      options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS,
      options.signal,
    );
    if (gone) {
      log.info(`purged the JetStream data of account ${account}`, { account, dir: accountDir });
      return { account, purged: true, reason: "the server purged it and its directory is gone" };
    }
    lastProblem = `the server initiated the purge but ${accountDir} is still there`;
  }
  return fail(`${lastProblem}; gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}`);
}

type PurgeAnswer =
  | { kind: "initiated" }
  | { kind: "retry"; problem: string }
  | { kind: "final"; problem: string };

async function requestPurge(
  nc: NatsConnection,
  account: string,
  timeoutMs: number,
): Promise<PurgeAnswer> {
  let text: string;
  try {
    const reply = await nc.request(`${ACCOUNT_PURGE_SUBJECT_PREFIX}${account}`, "", {
      timeout: timeoutMs,
    });
    text = reply.string();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RequestError && error.isNoResponders()) {
      return {
        kind: "final",
        problem: "no responders: JetStream is not enabled, or the connection is not a system " +
          "account user",
      };
    }
    if (error instanceof TimeoutError) {
      return {
        kind: "retry",
        problem: `no reply within ${timeoutMs} ms (in a cluster only the JetStream meta leader ` +
          `answers)`,
      };
    }
    if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
      // Retrying over this connection cannot work; the next reconcile run uses the next one.
      return { kind: "final", problem: `the admin connection is closed (${message})` };
    }
    return { kind: "retry", problem: `the request failed: ${message}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: "retry", problem: `unparsable reply: ${quote(text)}` };
  }
  const record = isRecord(body) ? body : {};
  if (isRecord(record.error)) {
    const { code, description } = record.error;
    const said = typeof description === "string" ? clip(description) : quote(description);
    const problem = `the server answered ${show(code)}: ${said}`;
    // 503: the meta leader is recovering or unavailable; anything else is the server's refusal.
    return code === 503 ? { kind: "retry", problem } : { kind: "final", problem };
  }
  if (record.initiated === true) return { kind: "initiated" };
  return { kind: "retry", problem: `unexpected reply: ${quote(text)}` };
}

/** Waits until no JetStream data is left under `path` (see jetstream_data.ts for why not "gone"). */
async function waitUntilGone(
  path: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (!(await hasJetStreamData(path))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(VERIFY_INTERVAL_MS, undefined, { signal });
  }
}
