/**
 * `pot-nats healthcheck`: the image has no curl, so the supervisor binary asks the monitor port's
 * `/healthz` itself.
 */

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
  const url = `http://127.0.0.1:${monitorPort}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.text()).trim();
    if (response.ok) return { ok: true, reason: `${url}: ${body}` };
    return { ok: false, reason: `${url} answered ${response.status}: ${body}` };
  } catch (error) {
    // fetch says only "fetch failed"; the cause says why (connection refused, timed out, ...).
    const cause = (error as Error).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    return { ok: false, reason: `${url}: ${(error as Error).message}${detail}` };
  }
}
