/**
 * The supervisor's one long-lived connection to nats-server as a system account user: claims
 * pushes, account deletes, JetStream purges and store dir queries all go over it.
 *
 * {@linkcode AdminConnection.start} never blocks and never throws: it connects in the background,
 * polling with backoff (50 ms doubling to 2 s, with jitter) until the server accepts, and once
 * connected nats.js reconnects by itself.
 *
 * A connection is handed out (`ready()`, `connection`) only once `verify` accepted it, after the
 * first connect and after every reconnect: a user of another account, or a connection to another
 * server than the supervisor's own child, is closed with one error line and never used, so pushes
 * and purges wait in their queue instead of failing.
 *
 * The creds file is read for every new connection, and every second while connected or waiting:
 * - creds the server refuses (another operator's user, an expired JWT), a file that cannot be
 *   read or holds no creds, and a user of another account than the system account are reported
 *   once, naming the file, and tried again as soon as its content changes (or every 30 s, in case
 *   the server's side changed);
 * - a change of the content while connected (a rotation) replaces the connection with one made
 *   with the new creds, verified again. nats.js's own reconnects keep using the creds the
 *   connection was verified with, so a connection never changes its user behind the check.
 *
 * @module
 */

import {
  AuthorizationError,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import { checkCreds, credsRotated, readCredsFile, waitForCredsChange } from "./creds.ts";
import type { AdminVerdict } from "./identity.ts";
import { type Logger, RepeatQuieter } from "../shared/log.ts";
import { errorMessage } from "../shared/errors.ts";
import { pause } from "../shared/timing.ts";
import { ClientTlsMode } from "./tls.ts";
import { Waiters } from "../shared/waiters.ts";
import {
  adminConnectOptions,
  connectUnlessAborted,
  isConnectionRefused,
  watchStatus,
  withJitter,
} from "./_connect.ts";
import {
  type AdminConnectionOptions,
  CREDS_HINT,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_CREDS_POLL_MS,
  DEFAULT_INITIAL_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_REFUSED_RETRY_MS,
  DEFAULT_ROTATION_POLL_MS,
} from "./connection_options.ts";

export type { AdminConnectionOptions } from "./connection_options.ts";

/** How long refused attempts are taken for a server still starting before they are a problem. */
const REFUSED_PROBLEM_MS = 10_000;

/**
 * What a connection that may not be used waits for before the next attempt: a change of the creds
 * file (or the slow retry), the slow retry (another server), or the usual backoff (a check that
 * could not be made).
 */
type Wait = "creds" | "slow" | "backoff";

/**
 * Owns the system account connection: connects in the background, keeps it up, closes it on
 * shutdown (`await using` closes it too).
 */
export class AdminConnection implements AsyncDisposable {
  readonly #options: AdminConnectionOptions;
  readonly #log: Logger;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #credsPollMs: number;
  readonly #refusedRetryMs: number;
  readonly #waiters = new Waiters<NatsConnection>();
  /** Interrupts a retry delay, a connect attempt or a check when the connection is closed. */
  readonly #closing = new AbortController();
  #nc: NatsConnection | undefined;
  /** True while #nc is connected and verified: only then is it handed out. */
  #usable = false;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  readonly #tls: ClientTlsMode;
  /** When the current nats.js reconnect episode started (drives its backoff). */
  #disconnectedAt: number | undefined;
  /** Why we closed the current connection ourselves (a failed check, new creds). */
  #closedBecause: Wait | "creds changed" | undefined;
  /** Since when every attempt has been refused at the socket. */
  #refusedSince: number | undefined;
  /** Logs a repeated error once at its level. */
  readonly #problems: RepeatQuieter;

  private constructor(options: AdminConnectionOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#initialDelayMs = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#credsPollMs = options.credsPollMs ?? DEFAULT_CREDS_POLL_MS;
    this.#refusedRetryMs = options.refusedRetryMs ?? DEFAULT_REFUSED_RETRY_MS;
    this.#tls = new ClientTlsMode(options.url, options.tls, options.log);
    this.#problems = new RepeatQuieter(options.log);
  }

  /**
   * Starts connecting in the background and returns at once.
   * @returns the connection owner; never throws (errors are logged and retried)
   */
  static start(options: AdminConnectionOptions): AdminConnection {
    const admin = new AdminConnection(options);
    admin.#loop = admin.#run().catch((error) => {
      // #run handles every error itself; this is a last line of defence, never expected.
      admin.#log.error("admin connection loop failed; no admin connection until restart", {
        error,
      });
    });
    return admin;
  }

  /** The connection while it is connected and verified, else undefined. */
  get connection(): NatsConnection | undefined {
    return this.#usable ? this.#nc : undefined;
  }

  /**
   * Waits until a verified connection is up.
   * @returns the connected NatsConnection
   * @throws the signal's reason when `signal` aborts first; an Error when the connection is closed
   */
  ready(signal?: AbortSignal): Promise<NatsConnection> {
    if (this.#closed) return Promise.reject(new Error("the admin connection is closed"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const nc = this.connection;
    if (nc) return Promise.resolve(nc);
    return this.#waiters.wait(signal);
  }

  /**
   * Closes the connection and stops reconnecting; pending `ready()` calls reject. Idempotent.
   * Never waits for a connect attempt in flight (it can take the whole connect timeout against a
   * server that accepts and says nothing): a connection that arrives later is closed at once.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#usable = false;
      this.#closing.abort();
      const error = new Error("the admin connection is closed");
      this.#waiters.rejectAll(error);
      const nc = this.#nc;
      if (nc && !nc.isClosed()) {
        await nc.close().catch((error) => {
          this.#log.debug("closing the admin connection failed", { error });
        });
      }
    }
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(): Promise<void> {
    let delay = this.#initialDelayMs;
    const backOff = async () => {
      await this.#sleep(withJitter(delay));
      delay = Math.min(delay * 2, this.#maxDelayMs);
    };
    while (!this.#closed) {
      let creds: Uint8Array;
      try {
        creds = readCredsFile(this.#options.credsPath, this.#options.readFile);
      } catch (error) {
        this.#reportCredsProblem(`cannot read the admin creds file: ${errorMessage(error)}`);
        await this.#waitForCredsChange(undefined);
        continue;
      }
      const check = checkCreds(creds);
      if (!check.ok) {
        this.#reportCredsProblem(`the admin creds file holds no usable creds: ${check.reason}`);
        await this.#waitForCredsChange(creds);
        continue;
      }

      let nc: NatsConnection | undefined;
      try {
        nc = await this.#connect(creds);
      } catch (error) {
        if (this.#closed) return;
        if (this.#tls.fallBackToPlain(error)) continue;
        if (
          error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError
        ) {
          const expired = check.expiresAt && check.expiresAt.getTime() <= Date.now()
            ? ` (the user JWT in it expired at ${check.expiresAt.toISOString()})`
            : "";
          this.#reportCredsProblem(
            `the server refused the admin creds: ${errorMessage(error)}${expired}`,
          );
          await this.#waitForCredsChange(creds);
          continue;
        }
        this.#logError(error, "attempt");
        await backOff();
        continue;
      }
      if (nc === undefined) return; // closed while connecting

      this.#nc = nc;
      this.#closedBecause = undefined;
      const watching = this.#watchStatus(nc);
      const setback = await this.#check(nc);
      if (this.#closed) {
        await nc.close().catch(() => {/* shutting down: nothing to report */});
        await watching;
        return;
      }
      if (setback) {
        this.#closedBecause = setback;
        await nc.close().catch(() => {/* it is being dropped anyway */});
      } else {
        delay = this.#initialDelayMs;
        this.#problems.reset();
        this.#refusedSince = undefined;
        this.#setUsable(true);
        this.#log.info("admin connection established", {
          server: nc.info?.server_name,
          url: this.#options.url,
          tls: nc.info?.tls_required || this.#tls.wanted ? true : undefined,
        });
      }
      const rotation = setback ? Promise.resolve() : this.#closeWhenCredsChange(nc, creds);
      const closedWith = await nc.closed();
      this.#setUsable(false);
      await watching;
      await rotation;
      if (this.#closed) return;
      const because = this.#closeReason();
      if (because === "creds changed") continue;
      if (because === "creds") await this.#waitForCredsChange(creds);
      else if (because === "slow") await this.#sleep(this.#refusedRetryMs);
      else if (because === "backoff") await backOff();
      else {
        // nats.js gave up (it stops after the same auth error twice in a row): start over,
        // reading the creds file again.
        this.#log.warn("admin connection closed; reconnecting", {
          error: closedWith instanceof Error ? closedWith : undefined,
        });
      }
    }
  }

  /** Why the connection just closed, if we closed it (read after awaits the compiler cannot see). */
  #closeReason(): Wait | "creds changed" | undefined {
    return this.#closedBecause;
  }

  /**
   * One connection attempt with these creds; nats.js's own reconnects use the same bytes.
   * @returns the connection, or undefined when the admin connection was closed meanwhile
   * @throws the attempt's error
   */
  async #connect(creds: Uint8Array): Promise<NatsConnection | undefined> {
    const nc = await connectUnlessAborted(
      adminConnectOptions({
        url: this.#options.url,
        name: this.#options.name ?? "pot-nats",
        creds,
        timeoutMs: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        tls: this.#tls.options(),
        reconnectDelay: () => this.#reconnectDelay(),
      }),
      this.#closing.signal,
    );
    return this.#closed ? undefined : nc;
  }

  /**
   * Runs `verify` on a new or reconnected connection.
   * @returns undefined when it may be used, else why not (logged)
   */
  async #check(nc: NatsConnection): Promise<Wait | undefined> {
    const verify = this.#options.verify;
    if (!verify) return undefined;
    let verdict: AdminVerdict;
    try {
      verdict = await verify(nc, this.#closing.signal);
    } catch (error) {
      verdict = { ok: false, problem: "unknown", reason: errorMessage(error) };
    }
    if (verdict.ok || this.#closed) return undefined;
    switch (verdict.problem) {
      case "account":
        this.#reportCredsProblem(
          `the admin creds are not a system account user's: ${verdict.reason}; closed the ` +
            "admin connection",
        );
        return "creds";
      case "server":
        this.#problem("error", `${verdict.reason}; closed the admin connection`, {
          url: this.#options.url,
          server: nc.info?.server_name,
        });
        return "slow";
      case "unknown":
        this.#problem("warn", `cannot use the admin connection yet: ${verdict.reason}`, {
          url: this.#options.url,
        });
        return "backoff";
    }
  }

  /**
   * While `nc` is up, reads the creds file every rotationPollMs; a changed (readable) content closes
   * `nc`, and the loop connects again with the new creds. An unreadable file leaves the working
   * connection alone.
   */
  async #closeWhenCredsChange(nc: NatsConnection, creds: Uint8Array): Promise<void> {
    const changed = await credsRotated(creds, {
      read: () => readCredsFile(this.#options.credsPath, this.#options.readFile),
      pollMs: this.#options.rotationPollMs ?? DEFAULT_ROTATION_POLL_MS,
      until: nc.closed(),
      signal: this.#closing.signal,
      onUnreadable: (error) =>
        this.#log.debug("cannot read the admin creds file; keeping the working connection", {
          creds: this.#options.credsPath,
          error,
        }),
    });
    if (!changed || nc.isClosed() || this.#closed) return;
    this.#log.info("the admin creds file changed; reconnecting with the new creds", {
      creds: this.#options.credsPath,
    });
    this.#closedBecause = "creds changed";
    this.#setUsable(false);
    await nc.close().catch(() => {/* replaced anyway */});
  }

  /**
   * Waits until the creds file's content differs from `seen` (undefined: it could not be read),
   * or at most refusedRetryMs, or until the connection is closed.
   */
  async #waitForCredsChange(seen: Uint8Array | undefined): Promise<void> {
    await waitForCredsChange(seen, {
      read: () => readCredsFile(this.#options.credsPath, this.#options.readFile),
      pollMs: this.#credsPollMs,
      maxWaitMs: this.#refusedRetryMs,
      signal: this.#closing.signal,
    });
  }

  /** Logs a creds problem as one error naming the file (a repeat at debug level). */
  #reportCredsProblem(message: string): void {
    this.#problem("error", message, { creds: this.#options.credsPath, hint: CREDS_HINT });
  }

  /** nats.js reconnect backoff: roughly doubling (wait = time since the disconnect), 50 ms to 2 s. */
  #reconnectDelay(): number {
    const since = this.#disconnectedAt === undefined ? 0 : Date.now() - this.#disconnectedAt;
    return withJitter(Math.min(Math.max(since, this.#initialDelayMs), this.#maxDelayMs));
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    await watchStatus(nc, this.#log, {
      disconnect: () => {
        this.#disconnectedAt = Date.now();
        this.#setUsable(false);
      },
      reconnect: async (server) => {
        this.#disconnectedAt = undefined;
        // The same URL may now lead to another server (a restarted child, or not ours at all).
        const setback = await this.#check(nc);
        if (setback) {
          this.#closedBecause = setback;
          await nc.close().catch(() => {/* it is being dropped anyway */});
          return;
        }
        this.#problems.reset();
        this.#setUsable(true);
        this.#log.info("admin connection re-established", { server });
      },
      error: (error) => this.#logError(error, "status"),
    });
  }

  #setUsable(usable: boolean): void {
    const nc = this.#nc;
    const was = this.#usable;
    this.#usable = usable && nc !== undefined && !nc.isClosed() && !this.#closed;
    if (this.#usable !== was) this.#options.onUsable?.(this.#usable);
    if (this.#usable && nc) this.#waiters.resolveAll(nc);
  }

  /** Logs a problem once per repeat, and tells `onProblem`. */
  #problem(level: "warn" | "error", message: string, fields: Record<string, unknown>): void {
    this.#problems.log(level, message, fields);
    this.#options.onProblem?.(message);
  }

  /**
   * Logs an error of a connection attempt or one the connection reported: a new message at
   * warn/error level, a repeat of the last one at debug level.
   */
  #logError(error: unknown, origin: "attempt" | "status"): void {
    const message = errorMessage(error);
    const fields = { url: this.#options.url, error: message };
    if (isConnectionRefused(error)) {
      // Expected while nats-server starts or restarts; for longer, NATS_CLIENT_URL is wrong.
      this.#refusedSince ??= Date.now();
      if (Date.now() - this.#refusedSince < REFUSED_PROBLEM_MS) {
        this.#log.debug("admin connection: the server is not accepting connections yet", fields);
        return;
      }
      this.#problem(
        "warn",
        "the admin connection has been refused for 10 s: is NATS_CLIENT_URL " +
          "nats-server's client address?",
        fields,
      );
      return;
    }
    if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
      this.#reportCredsProblem(`the server refused the admin creds: ${message}`);
    } else if (origin === "attempt") {
      this.#problem("warn", "admin connection attempt failed; retrying", fields);
    } else {
      this.#problem("warn", "the admin connection reported an error", fields);
    }
  }

  /** Waits `ms`, or until the connection is closed. */
  #sleep(ms: number): Promise<void> {
    return pause(ms, this.#closing.signal);
  }
}
