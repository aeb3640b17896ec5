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
 * Under Deno, the Node transport can raise an uncaught `ECONNRESET` after the server refuses a
 * connection, which would end the process: {@linkcode installTransportErrorGuard} handles exactly
 * that class of socket errors and leaves every other uncaught error fatal.
 *
 * @module
 */

import {
  AuthorizationError,
  connect,
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  type TlsOptions,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { checkCreds, readCredsFile } from "./admin_creds.ts";
import type { AdminVerdict } from "./admin_identity.ts";
import type { Logger } from "./log.ts";

/** TLS material for the admin connection (file paths); the caller resolves the defaults. */
export interface AdminTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface AdminConnectionOptions {
  /** `nats://host:port` or `tls://host:port` (TLS required). */
  url: string;
  /** The system account user's creds file, read for every new connection. */
  credsPath: string;
  /** Reads the creds file (default: a bounded read, see `bounded_read.ts`). */
  readFile?: (path: string) => Uint8Array;
  /**
   * TLS files. When any is set (or the URL is `tls://`) the connection asks for TLS; with a
   * `nats://` URL and a server that offers no TLS it falls back to plain TCP (logged once).
   */
  tls?: AdminTls;
  log: Logger;
  /** Connection name the server shows in `/connz` (default `pot-nats`). */
  name?: string;
  /**
   * Decides whether a new (or reconnected) connection may be used, e.g. with
   * `verifyAdminConnection`: a system account user, on the supervisor's own server. Without it
   * every connection is used.
   */
  verify?: (nc: NatsConnection, signal: AbortSignal) => Promise<AdminVerdict>;
  /** First retry delay in ms (default 50); doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Retry delay cap in ms (default 2000). */
  maxDelayMs?: number;
  /** Timeout of one connection attempt in ms (default 5000). */
  connectTimeoutMs?: number;
  /** How often the creds file is read to notice a change (ms, default 1000). */
  credsPollMs?: number;
  /**
   * How long refused creds, or a connection to another server, wait before they are tried
   * again although nothing changed (ms, default 30 s).
   */
  refusedRetryMs?: number;
}

const DEFAULT_INITIAL_DELAY_MS = 50;
const DEFAULT_MAX_DELAY_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_CREDS_POLL_MS = 1000;
const DEFAULT_REFUSED_RETRY_MS = 30_000;

const CREDS_HINT = "put a system account user's creds there; pot-nats tries again as soon as " +
  "the file changes";

interface Waiter {
  resolve(nc: NatsConnection): void;
  reject(error: unknown): void;
}

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
  readonly #waiters = new Set<Waiter>();
  /** Interrupts a retry delay, a connect attempt or a check when the connection is closed. */
  readonly #closing = new AbortController();
  #nc: NatsConnection | undefined;
  /** True while #nc is connected and verified: only then is it handed out. */
  #usable = false;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  /** Set after the server said it offers no TLS on a `nats://` URL: TLS files are then ignored. */
  #tlsUnavailable = false;
  /** When the current nats.js reconnect episode started (drives its backoff). */
  #disconnectedAt: number | undefined;
  /** Why we closed the current connection ourselves (a failed check, new creds). */
  #closedBecause: Wait | "creds changed" | undefined;
  /** The last error logged at warn/error level, so a repeated error is logged once. */
  #lastLoggedError: string | undefined;

  private constructor(options: AdminConnectionOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#initialDelayMs = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#credsPollMs = options.credsPollMs ?? DEFAULT_CREDS_POLL_MS;
    this.#refusedRetryMs = options.refusedRetryMs ?? DEFAULT_REFUSED_RETRY_MS;
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
    return new Promise<NatsConnection>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve: (nc) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(nc);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
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
      for (const waiter of this.#waiters) waiter.reject(error);
      this.#waiters.clear();
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
        if (this.#fallBackToPlain(error)) continue;
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
        this.#lastLoggedError = undefined;
        this.#setUsable(true);
        this.#log.info("admin connection established", {
          server: nc.info?.server_name,
          url: this.#options.url,
          tls: nc.info?.tls_required || this.#wantsTls() ? true : undefined,
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
    const attempt = connect(this.#connectOptions(creds));
    const closing = this.#closing.signal;
    let onAbort = () => {};
    const aborted = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined);
      if (closing.aborted) onAbort();
      closing.addEventListener("abort", onAbort, { once: true });
    });
    let nc: NatsConnection | undefined;
    try {
      nc = await Promise.race([attempt, aborted]);
    } finally {
      closing.removeEventListener("abort", onAbort);
    }
    if (nc === undefined || this.#closed) {
      // Not waited for: a late connection is closed as soon as it arrives.
      attempt.then((late) => late.close(), () => {/* the attempt failed: nothing to close */});
      return undefined;
    }
    return nc;
  }

  #connectOptions(creds: Uint8Array): ConnectionOptions {
    const options: ConnectionOptions = {
      servers: this.#options.url,
      name: this.#options.name ?? "pot-nats",
      authenticator: credsAuthenticator(creds),
      timeout: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => this.#reconnectDelay(),
      // The admin connection belongs to the supervisor's own server: stay on it, never wander off
      // to servers the cluster gossips.
      ignoreClusterUpdates: true,
      noRandomize: true,
    };
    const tls = this.#tlsOptions();
    if (tls) options.tls = tls;
    return options;
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
        this.#logOnce("error", `${verdict.reason}; closed the admin connection`, {
          url: this.#options.url,
          server: nc.info?.server_name,
        });
        return "slow";
      case "unknown":
        this.#logOnce("warn", `cannot use the admin connection yet: ${verdict.reason}`, {
          url: this.#options.url,
        });
        return "backoff";
    }
  }

  /**
   * While `nc` is up, reads the creds file every credsPollMs; a changed (readable) content closes
   * `nc`, and the loop connects again with the new creds. An unreadable file leaves the working
   * connection alone.
   */
  async #closeWhenCredsChange(nc: NatsConnection, creds: Uint8Array): Promise<void> {
    while (!nc.isClosed() && !this.#closed) {
      await Promise.race([this.#sleep(this.#credsPollMs), nc.closed()]);
      if (nc.isClosed() || this.#closed) return;
      let now: Uint8Array;
      try {
        now = readCredsFile(this.#options.credsPath, this.#options.readFile);
      } catch (error) {
        this.#log.debug("cannot read the admin creds file; keeping the working connection", {
          creds: this.#options.credsPath,
          error,
        });
        continue;
      }
      if (sameBytes(now, creds)) continue;
      this.#log.info("the admin creds file changed; reconnecting with the new creds", {
        creds: this.#options.credsPath,
      });
      this.#closedBecause = "creds changed";
      this.#setUsable(false);
      await nc.close().catch(() => {/* replaced anyway */});
      return;
    }
  }

  /**
   * Waits until the creds file's content differs from `seen` (undefined: it could not be read),
   * checking every credsPollMs, or at most refusedRetryMs, or until the connection is closed.
   */
  async #waitForCredsChange(seen: Uint8Array | undefined): Promise<void> {
    const deadline = Date.now() + this.#refusedRetryMs;
    while (!this.#closed && Date.now() < deadline) {
      await this.#sleep(Math.min(this.#credsPollMs, Math.max(0, deadline - Date.now())));
      let now: Uint8Array | undefined;
      try {
        now = readCredsFile(this.#options.credsPath, this.#options.readFile);
      } catch {
        now = undefined;
      }
      if (now === undefined ? seen !== undefined : seen === undefined || !sameBytes(now, seen)) {
        return;
      }
    }
  }

  /** Logs a creds problem as one error naming the file (a repeat at debug level). */
  #reportCredsProblem(message: string): void {
    this.#logOnce("error", message, { creds: this.#options.credsPath, hint: CREDS_HINT });
  }

  #wantsTls(): boolean {
    const { tls } = this.#options;
    if (isTlsUrl(this.#options.url)) return true;
    return !this.#tlsUnavailable && Boolean(tls?.ca || tls?.cert || tls?.key);
  }

  #tlsOptions(): TlsOptions | undefined {
    if (!this.#wantsTls()) return undefined;
    const { tls } = this.#options;
    const host = urlHostname(this.#options.url);
    // nats.js passes no server name for an IP address, and Deno's node:tls then checks the
    // certificate against "localhost": check it against the host of the URL instead (the chain is
    // still verified against the CA as usual).
    const options: TlsOptions & {
      checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
    } = { checkServerIdentity: (_hostname, cert) => checkServerIdentity(host, cert) };
    if (tls?.ca) options.caFile = tls.ca;
    if (tls?.cert) options.certFile = tls.cert;
    if (tls?.key) options.keyFile = tls.key;
    return options;
  }

  /** True when TLS was asked for only because files exist, and the server offers none. */
  #fallBackToPlain(error: unknown): boolean {
    if (isTlsUrl(this.#options.url) || this.#tlsUnavailable || !this.#wantsTls()) return false;
    if (!/does not support 'tls'/.test(errorMessage(error))) return false;
    this.#tlsUnavailable = true;
    this.#log.info(
      "the server offers no TLS on its client port; the admin connection uses plain TCP " +
        "(use a tls:// NATS_CLIENT_URL to require TLS)",
      { url: this.#options.url },
    );
    return true;
  }

  /** nats.js reconnect backoff: roughly doubling (wait = time since the disconnect), 50 ms to 2 s. */
  #reconnectDelay(): number {
    const since = this.#disconnectedAt === undefined ? 0 : Date.now() - this.#disconnectedAt;
    return withJitter(Math.min(Math.max(since, this.#initialDelayMs), this.#maxDelayMs));
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.#disconnectedAt = Date.now();
            this.#setUsable(false);
            this.#log.warn("admin connection lost; reconnecting", { server: status.server });
            break;
          case "reconnect": {
            this.#disconnectedAt = undefined;
            // The same URL may now lead to another server (a restarted child, or not ours at all).
            const setback = await this.#check(nc);
            if (setback) {
              this.#closedBecause = setback;
              await nc.close().catch(() => {/* it is being dropped anyway */});
              break;
            }
            this.#lastLoggedError = undefined;
            this.#setUsable(true);
            this.#log.info("admin connection re-established", { server: status.server });
            break;
          }
          case "error":
            this.#logError(status.error, "status");
            break;
          case "ldm":
            this.#log.info("the server entered lame duck mode", { server: status.server });
            break;
          case "reconnecting":
          case "ping":
            break;
          default:
            this.#log.debug(`admin connection status: ${status.type}`);
        }
      }
    } catch (error) {
      this.#log.debug("admin connection status stream ended with an error", { error });
    }
  }

  #setUsable(usable: boolean): void {
    const nc = this.#nc;
    this.#usable = usable && nc !== undefined && !nc.isClosed() && !this.#closed;
    if (!this.#usable || !nc) return;
    for (const waiter of this.#waiters) waiter.resolve(nc);
    this.#waiters.clear();
  }

  /**
   * Logs an error of a connection attempt or one the connection reported: a new message at
   * warn/error level, a repeat of the last one at debug level.
   */
  #logError(error: unknown, origin: "attempt" | "status"): void {
    const message = errorMessage(error);
    const fields = { url: this.#options.url, error: message };
    if (isConnectionRefused(error)) {
      // Expected while nats-server starts or restarts.
      this.#log.debug("admin connection: the server is not accepting connections yet", fields);
      return;
    }
    if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
      this.#reportCredsProblem(`the server refused the admin creds: ${message}`);
    } else if (origin === "attempt") {
      this.#logOnce("warn", "admin connection attempt failed; retrying", fields);
    } else {
      this.#logOnce("warn", "the admin connection reported an error", fields);
    }
  }

  /** Logs `message` at `level`, or at debug level when it repeats the last one logged. */
  #logOnce(level: "warn" | "error", message: string, fields: Record<string, unknown>): void {
    const key = `${message} ${JSON.stringify(fields)}`;
    if (key === this.#lastLoggedError) {
      this.#log.debug(`again: ${message}`, fields);
      return;
    }
    this.#lastLoggedError = key;
    this.#log[level](message, fields);
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#closing.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** Node socket error codes that only mean "the peer went away". */
const SOCKET_ERROR_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);
const SOCKET_ERROR_MESSAGE = /^(?:read|write) (?:ECONNRESET|EPIPE|ECONNABORTED)\b/;

/**
 * True for the socket errors the Node transport can leave uncaught when the server closes a
 * connection (`read ECONNRESET`, `write EPIPE`): a lost connection, which nats.js handles anyway.
 */
export function isTransportSocketError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === "string" && SOCKET_ERROR_CODES.has(code)) return true;
  return SOCKET_ERROR_MESSAGE.test(error.message);
}

/**
 * Keeps the process alive when the NATS Node transport raises an uncaught socket error (seen after
 * an "Authorization Violation": `Error: read ECONNRESET` from `TCPWrap.onStreamRead`). Only errors
 * that {@linkcode isTransportSocketError} accepts are handled (logged at debug level); every other
 * uncaught error or unhandled rejection still ends the process as usual.
 *
 * @returns a function that removes the guard
 */
export function installTransportErrorGuard(log: Logger): () => void {
  const onError = (event: ErrorEvent) => {
    if (!isTransportSocketError(event.error)) return;
    event.preventDefault();
    log.debug("ignored a socket error of the NATS transport (the connection is retried)", {
      error: event.error,
    });
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    if (!isTransportSocketError(event.reason)) return;
    event.preventDefault();
    log.debug("ignored a socket error of the NATS transport (the connection is retried)", {
      error: event.reason,
    });
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}

/** The host of a server URL (`nats://host:port`, `tls://[::1]:4222`, `host:port`). */
function urlHostname(url: string): string {
  const authority = url.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0] ?? "";
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const bracketed = hostPort.match(/^\[([^\]]+)\]/);
  if (bracketed) return bracketed[1]!;
  return hostPort.split(":")[0] ?? hostPort;
}

function isTlsUrl(url: string): boolean {
  return /^tls:\/\//i.test(url.trim());
}

function isConnectionRefused(error: unknown): boolean {
  const message = errorMessage(error);
  const cause = error instanceof Error
    ? (error.cause as { code?: unknown } | undefined)
    : undefined;
  return cause?.code === "ECONNREFUSED" || /connection refused/i.test(message);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/** `ms` plus up to a quarter more, so many clients do not retry in lockstep. */
function withJitter(ms: number): number {
  return Math.round(ms + Math.random() * ms / 4);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
