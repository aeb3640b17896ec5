/**
 * The supervisor's client for nats-server's monitor port (`-m`): one GET of a JSON endpoint,
 * bounded in time, on the host the monitor listens on.
 *
 * @module
 */

import { formatAddress } from "./host_port.ts";

export interface MonitorRequestOptions {
  /** Where the monitor listens, as a host to connect to (default 127.0.0.1). */
  host?: string;
  /** Default 2000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * GETs `http://<host>:<port>/<path>` and parses the body as JSON.
 * @returns the parsed body
 * @throws when the monitor does not answer in time, answers with an HTTP error, or not with JSON
 */
export async function getMonitorJson<T = Record<string, unknown>>(
  port: number,
  path: string,
  options: MonitorRequestOptions = {},
): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 2000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const url = `http://${formatAddress(options.host ?? "127.0.0.1", port)}/${path}`;
  const response = await fetch(url, { signal });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  return await response.json() as T;
}
