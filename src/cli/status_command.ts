/**
 * `pot-nats status [--json]`: the supervisor's `/status` as a few aligned lines for a person, or
 * as the raw JSON for a script.
 */

import { clip } from "../shared/log.ts";
import type { StatusDocument } from "../report/status.ts";
import { connectHost } from "../shared/host_port.ts";
import { getMonitor, getMonitorJson } from "../shared/monitor.ts";
import type { Settings } from "./settings.ts";

/**
 * Asks the running supervisor.
 * @returns what to print
 * @throws when the endpoint is off or does not answer (the message says which)
 */
export async function fetchStatus(
  settings: Pick<Settings, "httpPort" | "httpHost">,
  options: { json: boolean },
): Promise<string> {
  if (settings.httpPort === 0) {
    throw new Error("the supervisor's HTTP endpoint is off (POT_NATS_HTTP_PORT=0)");
  }
  const host = connectHost(settings.httpHost);
  const document = await getMonitorJson<StatusDocument>(settings.httpPort, "status", { host });
  if (options.json) return JSON.stringify(document, null, 2);
  const readyz = await getMonitor(settings.httpPort, "readyz", { host });
  return formatStatus(document, readyz.text.trim());
}

/** The status as aligned lines (pure). */
export function formatStatus(status: StatusDocument, readiness: string): string {
  const { server, mirror, admin, purge } = status;
  const rows: [string, string][] = [
    [
      "versions",
      `pot-nats ${status.versions.pot_nats}, nats-server ${status.versions.nats_server ?? "?"}`,
    ],
    ["server", serverLine(server)],
    ["ready", readiness],
    ["last pass", passLine(status)],
    ["mirror", mirrorLine(mirror)],
    ["admin", adminLine(admin)],
    ["purge", purgeLine(purge)],
  ];
  const recent = status.recent.at(-1);
  rows.push([
    "recent",
    recent
      ? `${status.recent.length} warnings/errors; last ${recent.time}: ${recent.message}`
      : "no warnings or errors",
  ]);
  const width = Math.max(...rows.map(([label]) => label.length));
  // Names and reasons come from the mount and the server: printed escaped, never raw.
  return rows.map(([label, text]) => `${label.padEnd(width)}  ${clip(text, 2000, true)}`)
    .join("\n");
}

function serverLine(server: StatusDocument["server"]): string {
  const parts: string[] = [server.state];
  if (server.pid !== null) parts.push(`pid ${server.pid}`);
  if (server.uptime_seconds !== null) parts.push(`up ${duration(server.uptime_seconds)}`);
  parts.push(`${server.restarts} restart${server.restarts === 1 ? "" : "s"}`);
  if (server.exit_code !== null) parts.push(`exit code ${server.exit_code}`);
  return parts.join(", ");
}

function passLine(status: StatusDocument): string {
  const pass = status.last_pass;
  if (!pass) return "none yet";
  const causes = pass.causes.length > 0 ? `${pass.causes.join(",")}: ` : "";
  return `${pass.at}, ${pass.ms} ms: ${causes}${pass.did.join("; ")}`;
}

function mirrorLine(mirror: StatusDocument["mirror"]): string {
  if (!mirror.first_run_done) return "not run yet";
  const parts = [`${mirror.accounts} accounts in the resolver dir`];
  if (mirror.rejected_count > 0) {
    const first = mirror.rejected[0]!;
    parts.push(`${mirror.rejected_count} rejected (${first.file}: ${first.reason})`);
  }
  if (mirror.repaired > 0) parts.push(`${mirror.repaired} repaired`);
  if (mirror.next_expiry) parts.push(`next expiry ${mirror.next_expiry}`);
  return parts.join(", ");
}

function adminLine(admin: StatusDocument["admin"]): string {
  const parts: string[] = [admin.state];
  if (admin.problem) parts.push(`problem: ${admin.problem}`);
  const push = admin.last_push;
  if (push) {
    parts.push(`last push ${push.at}: ${push.accounts} accounts, ${push.failed} failed`);
  }
  return parts.join("; ");
}

function purgeLine(purge: StatusDocument["purge"]): string {
  const parts = [`${purge.pending_count} pending`];
  const next = purge.pending[0];
  if (next) parts.push(`next ${next.account} in ${duration(next.seconds_left)}`);
  if (purge.last_refusal) parts.push(`last refusal ${purge.last_refusal.at}`);
  if (purge.last_purge) {
    parts.push(`last ${purge.last_purge.result} ${purge.last_purge.account}`);
  }
  return parts.join(", ");
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor(seconds % 3600 / 60)}m`;
}
