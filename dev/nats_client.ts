/** NATS client helpers for tests: connect with creds, read the monitor port. */

import { credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
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

/** GETs a monitor endpoint (e.g. "varz") as JSON, with the supervisor's own monitor client. */
export function monitor<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  return getMonitorJson<T>(port, path);
}
