/**
 * The options of the admin connection (`connection.ts`) and their defaults.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { TlsFiles } from "../cli/settings.ts";
import type { Logger } from "../shared/log.ts";
import type { AdminVerdict } from "./identity.ts";

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
  tls?: TlsFiles;
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
  /** How often the creds file is read while the connection cannot work (ms, default 1000). */
  credsPollMs?: number;
  /**
   * How often it is read while the connection works, to notice a rotation (ms, default 5000: a
   * timer that wakes the process every second costs idle CPU for a rare event).
   */
  rotationPollMs?: number;
  /**
   * How long refused creds, or a connection to another server, wait before they are tried
   * again although nothing changed (ms, default 30 s).
   */
  refusedRetryMs?: number;
  /** Told when the connection becomes usable (connected and verified) or stops being so. */
  onUsable?: (usable: boolean) => void;
  /** Told each problem that keeps it from working (wrong creds, another server, errors). */
  onProblem?: (problem: string) => void;
}

export const DEFAULT_INITIAL_DELAY_MS = 50;
export const DEFAULT_MAX_DELAY_MS = 2000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_CREDS_POLL_MS = 1000;
export const DEFAULT_ROTATION_POLL_MS = 5000;
export const DEFAULT_REFUSED_RETRY_MS = 30_000;

export const CREDS_HINT =
  "put a system account user's creds there; pot-nats tries again as soon as " +
  "the file changes";
