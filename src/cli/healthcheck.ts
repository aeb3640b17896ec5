/**
 * `pot-nats healthcheck [--ready]`: the image has no curl, so the supervisor binary asks its own
 * HTTP endpoint (`/healthz`, or `/readyz` with `--ready`); with the endpoint off
 * (`POT_NATS_HTTP_PORT=0`), liveness falls back to nats-server's `/healthz` on the monitor port.
 */

import { clip } from "../shared/log.ts";
import { errorMessage } from "../shared/errors.ts";
import { connectHost } from "../shared/host_port.ts";
import { getMonitor } from "../shared/monitor.ts";
import type { Settings } from "./settings.ts";

export interface Health {
  ok: boolean;
  reason: string;
}

/**
 * Asks the supervisor's `/healthz` or `/readyz`, or nats-server's `/healthz`.
 * @returns ok true on HTTP 200; otherwise the reason (endpoint off, refused, status, timeout).
 */
export async function checkHealth(
  settings: Pick<Settings, "httpPort" | "httpHost" | "monitorPort">,
  options: { ready?: boolean; timeoutMs?: number } = {},
): Promise<Health> {
  const timeoutMs = options.timeoutMs ?? 3000;
  if (settings.httpPort > 0) {
    const path = options.ready ? "readyz" : "healthz";
    return await ask(settings.httpPort, path, { host: connectHost(settings.httpHost), timeoutMs });
  }
  if (options.ready) {
    return {
      ok: false,
      reason: "readiness needs the supervisor's HTTP endpoint, which is off (POT_NATS_HTTP_PORT=0)",
    };
  }
  if (settings.monitorPort === 0) {
    return {
      ok: false,
      reason: "the HTTP endpoint and the monitor port are both off " +
        "(POT_NATS_HTTP_PORT=0, NATS_MONITOR_PORT=0): nothing to ask",
    };
  }
  return await ask(settings.monitorPort, "healthz", { timeoutMs });
}

async function ask(
  port: number,
  path: string,
  options: { host?: string; timeoutMs: number },
): Promise<Health> {
  try {
    const { url, ok, status, text } = await getMonitor(port, path, options);
    // The body is a server's: bounded and escaped before it is printed.
    const body = clip(text.trim(), 200, true);
    if (ok) return { ok: true, reason: `${url}: ${body}` };
    return { ok: false, reason: `${url} answered ${status}: ${body}` };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}
