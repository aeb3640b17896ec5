/**
 * `pot-nats healthcheck`: the image has no curl, so the supervisor binary asks the monitor port's
 * `/healthz` itself.
 */

import { errorMessage } from "../shared/errors.ts";
import { getMonitor } from "../shared/monitor.ts";

export interface Health {
  ok: boolean;
  reason: string;
}

/**
 * Asks `http://127.0.0.1:<port>/healthz`.
 * @returns ok true on HTTP 200; otherwise the reason (disabled monitor, refused, status, timeout).
 */
export async function checkHealth(monitorPort: number, timeoutMs = 3000): Promise<Health> {
  if (monitorPort === 0) {
    return { ok: false, reason: "the monitor port is disabled (NATS_MONITOR_PORT=0)" };
  }
  try {
    const { url, ok, status, text } = await getMonitor(monitorPort, "healthz", { timeoutMs });
    if (ok) return { ok: true, reason: `${url}: ${text.trim()}` };
    return { ok: false, reason: `${url} answered ${status}: ${text.trim()}` };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}
