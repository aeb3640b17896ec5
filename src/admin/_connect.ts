/**
 * One connection attempt of the admin connection (`connection.ts`): its nats.js options, a connect
 * that a close can abandon, and following its status events. Private to the admin folder.
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
import { errorMessage } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";

/** What one attempt is made with. */
export interface AdminConnectInput {
  url: string;
  /** The name the server shows in `/connz`. */
  name: string;
  /** The creds file's content, checked; nats.js's own reconnects use the same bytes. */
  creds: Uint8Array;
  timeoutMs: number;
  tls: TlsOptions | undefined;
  /** The wait before each of nats.js's own reconnect attempts. */
  reconnectDelay: () => number;
}

/** The nats.js options of an admin connection attempt. */
export function adminConnectOptions(input: AdminConnectInput): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: input.url,
    name: input.name,
    authenticator: credsAuthenticator(input.creds),
    timeout: input.timeoutMs,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: input.reconnectDelay,
    // The admin connection belongs to the supervisor's own server: stay on it, never wander off
    // to servers the cluster gossips.
    ignoreClusterUpdates: true,
    noRandomize: true,
  };
  if (input.tls) options.tls = input.tls;
  return options;
}

/**
 * Connects, unless `signal` aborts first: then it resolves undefined at once, and a connection
 * that arrives later is closed as soon as it does (a close never waits for an attempt, which can
 * take the whole connect timeout against a server that accepts and says nothing).
 * @throws the attempt's error
 */
export async function connectUnlessAborted(
  options: ConnectionOptions,
  signal: AbortSignal,
): Promise<NatsConnection | undefined> {
  const attempt = connect(options);
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
  });
  let nc: NatsConnection | undefined;
  try {
    nc = await Promise.race([attempt, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (nc === undefined || signal.aborted) {
    attempt.then((late) => late.close(), () => {/* the attempt failed: nothing to close */});
    return undefined;
  }
  return nc;
}

/** True for an attempt refused at the socket: expected while nats-server starts or restarts. */
export function isConnectionRefused(error: unknown): boolean {
  const cause = error instanceof Error
    ? (error.cause as { code?: unknown } | undefined)
    : undefined;
  return cause?.code === "ECONNREFUSED" || /connection refused/i.test(errorMessage(error));
}

/** `ms` plus up to a quarter more, so many clients do not retry in lockstep. */
export function withJitter(ms: number): number {
  return Math.round(ms + Math.random() * ms / 4);
}

/** What a connection's status events do to its owner. */
export interface StatusHandlers {
  disconnect(): void;
  reconnect(server: string): Promise<void>;
  error(error: unknown): void;
}

/**
 * Follows a connection's status events until it closes: a disconnect and lame-duck mode are
 * logged, a reconnect and an error go to `handlers`.
 */
export async function watchStatus(
  nc: NatsConnection,
  log: Logger,
  handlers: StatusHandlers,
): Promise<void> {
  try {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          handlers.disconnect();
          log.warn("admin connection lost; reconnecting", { server: status.server });
          break;
        case "reconnect":
          await handlers.reconnect(status.server);
          break;
        case "error":
          handlers.error(status.error);
          break;
        case "ldm":
          log.info("the server entered lame duck mode", { server: status.server });
          break;
        case "reconnecting":
        case "ping":
          break;
        default:
          log.debug(`admin connection status: ${status.type}`);
      }
    }
  } catch (error) {
    log.debug("admin connection status stream ended with an error", { error });
  }
}
