/**
 * How long a restart of the leaf's nats-server leaves its local clients and the hub without it,
 * measured through real clients and the hub's monitor: for the leaf end-to-end test and the `leaf`
 * benchmark.
 *
 * Every figure counts from the moment the old server closed a client's connection (the client's
 * `disconnect` status event), so the supervisor's own reaction to the change (debounce, scan,
 * `nats-server -t`) is not part of it: during that time the old server still serves.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { StatusLog } from "./nats_client.ts";
import type { LeafTopology, Leafz } from "./leaf_topology.ts";
import { pollUntil } from "./poll.ts";

/** A local client of the leaf and its recorded status events. */
export interface RestartProbe {
  nc: NatsConnection;
  status: StatusLog;
}

export interface LeafRestartFigures {
  /**
   * Outage of a client with nats.js's reconnect defaults: from its disconnect until a publish to
   * the leaf's JetStream is acknowledged again.
   */
  clientOutageMs: number;
  /** The same for a client that retries every 50 ms without jitter: what the server allows. */
  fastClientOutageMs: number;
  /** From the first client's disconnect until the hub's `/leafz` lists a new leaf connection. */
  hubResightMs: number;
}

export interface MeasureLeafRestartOptions {
  /** Makes the change that restarts the leaf's nats-server (e.g. writes its config). */
  change: () => Promise<unknown>;
  /** A client with nats.js's reconnect defaults and one with a 50 ms wait, both on the leaf. */
  clients: { normal: RestartProbe; fast: RestartProbe };
  /** A subject of a stream in the clients' account on the leaf: a publish is acknowledged. */
  subject: string;
  timeoutMs?: number;
}

/**
 * Makes the change and measures the restart it causes.
 * @throws when the clients are not disconnected, do not get service back, or the hub does not see
 *   a new leaf connection within `timeoutMs` (default 30 s)
 */
export async function measureLeafRestart(
  topology: LeafTopology,
  options: MeasureLeafRestartOptions,
): Promise<LeafRestartFigures> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const before = new Set((await topology.hub.leafz()).map(connectionKey));
  const mark = performance.now();
  await options.change();
  const { normal, fast } = options.clients;
  const disconnects = await pollUntil("the leaf's clients to be disconnected", () => {
    const found = [normal, fast].map((probe) => probe.status.first("disconnect", mark));
    return found.every((event) => event !== undefined) && found.map((event) => event!.at);
  }, { timeoutMs, intervalMs: 1 });
  const closedAt = Math.min(...disconnects);
  const [clientOutageMs, fastClientOutageMs, hubResightMs] = await Promise.all([
    serviceBack(normal, disconnects[0]!, options.subject, timeoutMs),
    serviceBack(fast, disconnects[1]!, options.subject, timeoutMs),
    pollUntil("the hub to list a new connection of the leaf", async () => {
      const leafs = await topology.hub.leafz();
      const now = performance.now();
      return leafs.some((entry) => entry.name === "leaf" && !before.has(connectionKey(entry))) &&
        now - closedAt;
    }, { timeoutMs, intervalMs: 2 }),
  ]);
  return { clientOutageMs, fastClientOutageMs, hubResightMs };
}

/** A connection as the hub lists it; 2.10 gives no id, but the leaf's port tells them apart. */
export function connectionKey(entry: Leafz): string {
  return `${entry.id ?? ""}/${entry.ip}:${entry.port}/${entry.account}`;
}

/** ms from `disconnectedAt` until the client reconnected by itself and a publish is acknowledged. */
async function serviceBack(
  probe: RestartProbe,
  disconnectedAt: number,
  subject: string,
  timeoutMs: number,
): Promise<number> {
  await pollUntil(
    "the client to reconnect by itself",
    () => probe.status.first("reconnect", disconnectedAt),
    { timeoutMs, intervalMs: 1 },
  );
  // JetStream may still be starting on the new server: no responders until it is.
  await pollUntil("a publish to be acknowledged", async () => {
    await probe.nc.request(subject, "probe", { timeout: 500 });
    return true;
  }, { timeoutMs, intervalMs: 1 });
  return performance.now() - disconnectedAt;
}
