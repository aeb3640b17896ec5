/**
 * The supervisor's own metrics, in Prometheus's text format (`GET /metrics`; see
 * `prometheus.ts`). Names follow Prometheus conventions: the prefix
 * `pot_nats_`, base units, `_total` for counters, `_seconds` for durations. No label takes an
 * unbounded value (never one series per account): causes, results and rejection reasons are small
 * fixed sets, declared here, and their series exist from the start at 0, so a rate or an alert
 * works before the first event.
 *
 * Each {@linkcode Metrics} has a registry of its own, so tests and tools make as many as they like.
 *
 * @module
 */

import process from "node:process";
import { Counter, EXPOSITION_CONTENT_TYPE, Gauge, Histogram, Registry } from "./prometheus.ts";

export const CAUSE_LABELS = ["config", "accounts", "tls", "jwt", "creds"] as const;
export const RELOAD_RESULTS = ["ok", "rejected", "invalid_config"] as const;
export const PUSH_RESULTS = ["ok", "failed"] as const;
export const PURGE_RESULTS = ["purged", "refused", "dry_run", "failed"] as const;
/** Why a mounted JWT file was rejected, as one word (see {@linkcode rejectionReason}). */
export const REJECTION_REASONS = [
  "unreadable",
  "not_regular",
  "too_large",
  "malformed",
  "signature",
  "issuer",
  "type",
  "subject",
  "expired",
  "not_yet_valid",
] as const;
export type RejectionReason = typeof REJECTION_REASONS[number];

/** From a change's first event to its action done: 5 ms to 60 s. */
const REACTION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsOptions {
  /** Process metrics (resident memory, CPU, heap) under the client's default names; default true. */
  processMetrics?: boolean;
}

/** Every metric of the supervisor, registered in a registry of its own. */
export class Metrics {
  readonly registry = new Registry();

  readonly buildInfo = this.#gauge(
    "pot_nats_build_info",
    "1, labelled with the supervisor's and nats-server's versions",
    ["version", "nats_server_version"],
  );
  readonly changesDetected = this.#counter(
    "pot_nats_changes_detected_total",
    "Changes of content detected, by cause",
    ["cause"],
  );
  readonly reloads = this.#counter(
    "pot_nats_reloads_total",
    "SIGHUP reloads by cause and result: ok, rejected (not confirmed by nats-server), " +
      "invalid_config (refused by nats-server -t, not sent)",
    ["cause", "result"],
  );
  readonly serverRestarts = this.#counter(
    "pot_nats_server_restarts_total",
    "Graceful restarts of nats-server to apply a change (leaf mode)",
  );
  readonly reactionSeconds = this.registry.register(
    new Histogram<"cause">({
      name: "pot_nats_reaction_seconds",
      help: "From the first event of a change to its action done (reloaded, restarted, JWT pushed)",
      labelNames: ["cause"],
      buckets: REACTION_BUCKETS,
    }),
  );
  readonly jwtAccounts = this.#gauge(
    "pot_nats_jwt_accounts",
    "Account JWTs in the resolver dir (NATS_JWT_DIR)",
  );
  readonly jwtRejectedFiles = this.#gauge(
    "pot_nats_jwt_rejected_files",
    "Mounted JWT files rejected now (not mirrored)",
  );
  readonly jwtRejections = this.#counter(
    "pot_nats_jwt_rejections_total",
    "Mounted JWT files rejected, once per content, by reason",
    ["reason"],
  );
  readonly jwtRepairs = this.#counter(
    "pot_nats_jwt_repairs_total",
    "Account JWTs written back because the resolver dir had lost or changed them (drift)",
  );
  readonly jwtNextExpiry = this.#gauge(
    "pot_nats_jwt_next_expiry_timestamp_seconds",
    "When the first mounted account JWT expires (Unix time); 0 when none expires",
  );
  readonly jwtExpiringAccounts = this.#gauge(
    "pot_nats_jwt_expiring_accounts",
    "Mounted account JWTs that expire within POT_NATS_EXPIRY_WARN_DAYS",
  );
  readonly claimsPushes = this.#counter(
    "pot_nats_claims_pushes_total",
    "Account JWTs pushed with $SYS.REQ.CLAIMS.UPDATE, by result",
    ["result"],
  );
  readonly claimsDeletes = this.#counter(
    "pot_nats_claims_deletes_total",
    "Accounts deleted live with $SYS.REQ.CLAIMS.DELETE, by result",
    ["result"],
  );
  readonly purges = this.#counter(
    "pot_nats_purges_total",
    "JetStream purges: accounts purged, failed or that a dry run would purge; runs refused",
    ["result"],
  );
  readonly purgePendingAccounts = this.#gauge(
    "pot_nats_purge_pending_accounts",
    "Accounts whose JetStream data waits out its grace period before a purge",
  );
  readonly adminConnectionUp = this.#gauge(
    "pot_nats_admin_connection_up",
    "1 while the system account connection is up and verified",
  );
  readonly serverUp = this.#gauge("pot_nats_server_up", "1 while nats-server runs");
  readonly lastPassTimestamp = this.#gauge(
    "pot_nats_last_pass_timestamp_seconds",
    "When the last change pass (or re-scan) ended (Unix time)",
  );

  constructor(options: MetricsOptions = {}) {
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
    for (const cause of CAUSE_LABELS) {
      this.changesDetected.inc({ cause }, 0);
      for (const result of RELOAD_RESULTS) this.reloads.inc({ cause, result }, 0);
    }
    for (const result of PUSH_RESULTS) {
      this.claimsPushes.inc({ result }, 0);
      this.claimsDeletes.inc({ result }, 0);
    }
    for (const result of PURGE_RESULTS) this.purges.inc({ result }, 0);
    for (const reason of REJECTION_REASONS) this.jwtRejections.inc({ reason }, 0);
  }

  /** The exposition, as `GET /metrics` serves it. */
  text(): Promise<string> {
    return Promise.resolve(this.registry.text());
  }

  /** The content type of {@linkcode Metrics.text}. */
  get contentType(): string {
    return EXPOSITION_CONTENT_TYPE;
  }

  #counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return this.registry.register(new Counter<L>({ name, help, labelNames }));
  }

  #gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return this.registry.register(new Gauge<L>({ name, help, labelNames }));
  }
}

/**
 * The process metrics, under the names Prometheus's Node.js client uses by default, computed only
 * when scraped. Not its whole default set: its event-loop-lag monitor keeps a timer running (idle
 * CPU), and its `nodejs_active_*_total` gauges fail `promtool check metrics` (a gauge named like a
 * counter).
 */
function registerProcessMetrics(registry: Registry): void {
  const startSeconds = Math.round(Date.now() / 1000 - performance.now() / 1000);
  const cpu = () => process.cpuUsage();
  const counter = (name: string, help: string, collect: () => number) =>
    registry.register(new Counter({ name, help, collect }));
  const gauge = (name: string, help: string, collect: () => number) =>
    registry.register(new Gauge({ name, help, collect }));
  counter(
    "process_cpu_user_seconds_total",
    "User CPU time spent in seconds",
    () => cpu().user / 1e6,
  );
  counter(
    "process_cpu_system_seconds_total",
    "System CPU time spent in seconds",
    () => cpu().system / 1e6,
  );
  counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds", () => {
    const { user, system } = cpu();
    return (user + system) / 1e6;
  });
  gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds",
    () => startSeconds,
  );
  gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes",
    () => Deno.memoryUsage().rss,
  );
  gauge(
    "nodejs_heap_size_total_bytes",
    "Process heap size from Node.js in bytes",
    () => Deno.memoryUsage().heapTotal,
  );
  gauge(
    "nodejs_heap_size_used_bytes",
    "Process heap size used from Node.js in bytes",
    () => Deno.memoryUsage().heapUsed,
  );
  gauge(
    "nodejs_external_memory_bytes",
    "Node.js external memory size in bytes",
    () => Deno.memoryUsage().external,
  );
}

/**
 * Each reason's fixed start, as the JWT check and the file guard write it. Anchored: the rest of a
 * reason quotes claims and names from the mount (a `sub` of "FIFO" must not count as not_regular).
 */
const REJECTION_RULES: readonly [RegExp, RejectionReason][] = [
  [/^expired at /, "expired"],
  [/^not valid before /, "not_yet_valid"],
  [/^(?:not read: )?\d+ bytes, more than POT_NATS_MAX_FILE_BYTES/, "too_large"],
  [/^(?:not read: )?an? [^,]*, not a regular file/, "not_regular"],
  [/^could not be read/, "unreadable"],
  [/^signature does not verify/, "signature"],
  [/^issuer /, "issuer"],
  [/^not an account JWT/, "type"],
  [/^sub /, "subject"],
];

/**
 * A rejection reason as one of {@linkcode REJECTION_REASONS}, from the reason text the JWT check
 * or the file guard gives.
 */
export function rejectionReason(reason: string): RejectionReason {
  return REJECTION_RULES.find(([pattern]) => pattern.test(reason))?.[1] ?? "malformed";
}
