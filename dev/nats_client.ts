/** NATS client helpers for tests: connect with creds, read the monitor port. */

import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { installTransportErrorGuard } from "../src/admin/transport_guard.ts";
import { silentLogger } from "../src/shared/log.ts";
import { getMonitorJson } from "../src/shared/monitor.ts";

// Tests poll connections that the server may refuse (an account not loaded yet); under Deno the
// Node transport then raises an uncaught ECONNRESET that would end the test process.
installTransportErrorGuard(silentLogger);

/** Connects with a creds file's text; fails fast (no reconnect loop) so tests see errors. */
export function connectWithCreds(url: string, creds: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    reconnect: false,
    timeout: 2000,
  });
}

/**
 * Connects like an application that must stay connected: nats.js's reconnect defaults (2 s between
 * attempts at a server, plus up to 100 ms of jitter), but never giving up; `options` override.
 */
export function connectReconnecting(
  url: string,
  creds: string,
  options: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({
    servers: url,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    maxReconnectAttempts: -1,
    timeout: 2000,
    ...options,
  });
}

/** A connection's status events, each with the `performance.now()` it was seen at. */
export interface StatusLog {
  readonly events: readonly { type: string; at: number }[];
  /** The first event of `type` seen after `since` (a `performance.now()`), if any. */
  first(type: string, since: number): { type: string; at: number } | undefined;
}

/** Records every status event of `nc` until it closes. */
export function recordStatus(nc: NatsConnection): StatusLog {
  const events: { type: string; at: number }[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      events.push({ type: status.type, at: performance.now() });
    }
  })();
  return {
    events,
    first: (type, since) => events.find((event) => event.type === type && event.at >= since),
  };
}

/** GETs a monitor endpoint (e.g. "varz") as JSON, with the supervisor's own monitor client. */
export function monitor<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  return getMonitorJson<T>(port, path);
}
