/**
 * The supervisor's one client for nats-server's monitor port (`-m`): a GET of an endpoint, bounded
 * in time, on the host the monitor listens on (an IPv6 host in brackets), its status checked.
 *
 * @module
 */

import { errorMessage } from "./errors.ts";
import { formatAddress } from "./host_port.ts";

export interface MonitorRequestOptions {
  /** Where the monitor listens, as a host to connect to (default 127.0.0.1). */
  host?: string;
  /** Default 2000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** An answer of the monitor: its status and its body as text. */
export interface MonitorResponse {
  url: string;
  status: number;
  ok: boolean;
  text: string;
}

/** `http://<host>:<port>/<path>` */
export function monitorUrl(port: number, path: string, host = "127.0.0.1"): string {
  return `http://${formatAddress(host, port)}/${path}`;
}

/**
 * GETs `http://<host>:<port>/<path>`, whatever its status.
 * @returns the status and the body
 * @throws when the monitor does not answer in time or at all; the message names the URL and why
 *   (fetch itself says only "fetch failed")
 */
export async function getMonitor(
  port: number,
  path: string,
  options: MonitorRequestOptions = {},
): Promise<MonitorResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 2000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const url = monitorUrl(port, path, options.host);
  try {
    const response = await fetch(url, { signal });
    return { url, status: response.status, ok: response.ok, text: await response.text() };
  } catch (error) {
    const cause = (error as Error).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    throw new Error(`${url}: ${errorMessage(error)}${detail}`, { cause: error });
  }
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
  const response = await getMonitor(port, path, options);
  if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
  return JSON.parse(response.text) as T;
}
