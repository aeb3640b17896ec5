/**
 * The supervisor's one long-lived connection to nats-server as a system account user: claims
 * pushes, account deletes, JetStream purges and store dir queries all go over it.
 *
 * {@linkcode AdminConnection.start} never blocks and never throws: it connects in the background,
 * polling with backoff (50 ms doubling to 2 s, with jitter) until the server accepts, and once
 * connected nats.js reconnects by itself. The creds file is read again on every attempt, so a
 * rotated or corrected creds file is picked up without a restart. An error (wrong or revoked creds
 * give "Authorization Violation") is logged once per distinct message, not on every retry.
 *
 * Under Deno, the Node transport can raise an uncaught `ECONNRESET` after the server refuses a
 * connection, which would end the process: {@linkcode installTransportErrorGuard} handles exactly
 * that class of socket errors and leaves every other uncaught error fatal.
 *
 * @module
 */

import {
  connect,
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  type TlsOptions,
} from "@nats-io/transport-node";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { DEFAULT_MAX_FILE_BYTES, readBytesBoundedSync } from "./bounded_read.ts";
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
  /** The system account user's creds file, read again on every connection attempt. */
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
  /** First retry delay in ms (default 50); doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Retry delay cap in ms (default 2000). */
  maxDelayMs?: number;
  /** Timeout of one connection attempt in ms (default 5000). */
  connectTimeoutMs?: number;
}

const DEFAULT_INITIAL_DELAY_MS = 50;
const DEFAULT_MAX_DELAY_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

interface Waiter {
  resolve(nc: NatsConnection): void;
  reject(error: unknown): void;
}

/**
 * Owns the system account connection: connects in the background, keeps it up, closes it on
 * shutdown (`await using` closes it too).
 */
export class AdminConnection implements AsyncDisposable {
  readonly #options: AdminConnectionOptions;
  readonly #log: Logger;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #waiters = new Set<Waiter>();
  /** Interrupts a retry delay when the connection is closed. */
  readonly #closing = new AbortController();
  #nc: NatsConnection | undefined;
  #connected = false;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  /** Set after the server said it offers no TLS on a `nats://` URL: TLS files are then ignored. */
  #tlsUnavailable = false;
  /** When the current nats.js reconnect episode started (drives its backoff). */
  #disconnectedAt: number | undefined;
  /** The last good creds file content, used by nats.js reconnects when the file cannot be read. */
  #lastCreds: Uint8Array | undefined;
  /** The last error logged at warn/error level, so a repeated error is logged once. */
  #lastLoggedError: string | undefined;

  private constructor(options: AdminConnectionOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#initialDelayMs = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
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

  /** The connection while it is connected, else undefined. */
  get connection(): NatsConnection | undefined {
    return this.#connected ? this.#nc : undefined;
  }

  /**
   * Waits until the connection is up.
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

  /** Closes the connection and stops reconnecting; pending `ready()` calls reject. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
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
    while (!this.#closed) {
      let nc: NatsConnection;
      try {
        nc = await connect(this.#connectOptions());
      } catch (error) {
        if (this.#closed) return;
        if (this.#fallBackToPlain(error)) continue;
        this.#logError(error, "attempt");
        await this.#sleep(withJitter(delay));
        delay = Math.min(delay * 2, this.#maxDelayMs);
        continue;
      }
      if (this.#closed) {
        await nc.close().catch(() => {/* shutting down: nothing to report */});
        return;
      }
      delay = this.#initialDelayMs;
      this.#lastLoggedError = undefined;
      this.#nc = nc;
      const watching = this.#watchStatus(nc);
      this.#setConnected(true);
      this.#log.info("admin connection established", {
        server: nc.info?.server_name,
        url: this.#options.url,
        tls: nc.info?.tls_required || this.#wantsTls() ? true : undefined,
      });
      const closedWith = await nc.closed();
      this.#setConnected(false);
      await watching;
      if (this.#closed) return;
      // nats.js gave up (it stops after the same auth error twice in a row): start over, reading
      // the creds file again.
      this.#log.warn("admin connection closed; reconnecting", {
        error: closedWith instanceof Error ? closedWith : undefined,
      });
    }
  }

  #connectOptions(): ConnectionOptions {
    let creds: Uint8Array;
    try {
      creds = this.#readFile(this.#options.credsPath);
    } catch (error) {
      throw new Error(
        `could not read the creds file ${this.#options.credsPath}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    this.#lastCreds = creds;
    const options: ConnectionOptions = {
      servers: this.#options.url,
      name: this.#options.name ?? "pot-nats",
      authenticator: credsAuthenticator(() => this.#readCredsForReconnect()),
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

  #readFile(path: string): Uint8Array {
    const read = this.#options.readFile;
    return read ? read(path) : readBytesBoundedSync(path, DEFAULT_MAX_FILE_BYTES);
  }

  /** Reads the creds file for a nats.js reconnect; keeps the last good content if it fails. */
  #readCredsForReconnect(): Uint8Array {
    try {
      this.#lastCreds = this.#readFile(this.#options.credsPath);
    } catch (error) {
      this.#log.debug("could not re-read the admin creds file; reconnecting with the last one", {
        path: this.#options.credsPath,
        error,
      });
    }
    return this.#lastCreds ?? new Uint8Array();
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
            this.#setConnected(false);
            this.#log.warn("admin connection lost; reconnecting", { server: status.server });
            break;
          case "reconnect":
            this.#disconnectedAt = undefined;
            this.#lastLoggedError = undefined;
            this.#setConnected(true);
            this.#log.info("admin connection re-established", { server: status.server });
            break;
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

  #setConnected(connected: boolean): void {
    this.#connected = connected;
    const nc = this.#nc;
    if (!connected || !nc) return;
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
    if (message === this.#lastLoggedError) {
      this.#log.debug("admin connection error again", fields);
      return;
    }
    this.#lastLoggedError = message;
    if (isAuthError(error)) {
      this.#log.error(
        "the server refused the admin connection's credentials; retrying, and reading the " +
          "creds file again on every attempt",
        { ...fields, creds: this.#options.credsPath },
      );
    } else if (origin === "attempt") {
      this.#log.warn("admin connection attempt failed; retrying", fields);
    } else {
      this.#log.warn("the admin connection reported an error", fields);
    }
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

function isAuthError(error: unknown): boolean {
  const name = error instanceof Error ? error.name : "";
  return name === "AuthorizationError" || name === "UserAuthenticationExpiredError" ||
    /authorization violation|authentication expired|unable to parse credentials/i.test(
      errorMessage(error),
    );
}

function isConnectionRefused(error: unknown): boolean {
  const message = errorMessage(error);
  const cause = error instanceof Error
    ? (error.cause as { code?: unknown } | undefined)
    : undefined;
  return cause?.code === "ECONNREFUSED" || /connection refused/i.test(message);
}

/** `ms` plus up to a quarter more, so many clients do not retry in lockstep. */
function withJitter(ms: number): number {
  return Math.round(ms + Math.random() * ms / 4);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
