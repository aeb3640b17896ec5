/**
 * The supervisor's state for people and scripts (`GET /status`), and the readiness and liveness
 * decisions (`/readyz`, `/healthz`) made from it. Each feature writes its part as things happen;
 * nothing here reads a file or asks a server. Every list is bounded and every text from outside is
 * clipped, so the document stays small whatever a mount holds.
 *
 * @module
 */

import { isoFromSeconds } from "../shared/iso_time.ts";
import { clip } from "../shared/log.ts";

/** How many warnings and errors `/status` keeps. */
export const RECENT_MAX = 20;
/** How many rejected files and pending purges `/status` lists (the counts are exact). */
export const LIST_MAX = 100;

export type ServerState = "waiting" | "starting" | "running" | "restarting" | "stopping" | "exited";
export type AdminState = "off" | "connecting" | "up" | "down";

export interface RecentEntry {
  time: string;
  level: "warn" | "error";
  message: string;
}

export interface PassStatus {
  at: string;
  ms: number;
  causes: string[];
  did: string[];
}

export interface StatusDocument {
  versions: { pot_nats: string; nats_server: string | null };
  server: {
    state: ServerState;
    pid: number | null;
    started_at: string | null;
    uptime_seconds: number | null;
    restarts: number;
    exit_code: number | null;
  };
  last_pass: PassStatus | null;
  mirror: {
    first_run_done: boolean;
    accounts: number;
    rejected_count: number;
    rejected: { file: string; reason: string }[];
    repaired: number;
    next_expiry: string | null;
    expiring: { account: string; expires: string }[];
  };
  admin: {
    state: AdminState;
    problem: string | null;
    first_push_attempted: boolean;
    last_push: { at: string; accounts: number; failed: number; error: string | null } | null;
  };
  purge: {
    pending_count: number;
    pending: { account: string; due: string; seconds_left: number }[];
    last_refusal: { at: string; reason: string } | null;
    last_purge: { at: string; account: string; result: string } | null;
  };
  recent: RecentEntry[];
}

/** The state the features write, and the document `/status` shows. */
export class StatusBoard {
  readonly #now: () => number;
  #versions: StatusDocument["versions"] = { pot_nats: "", nats_server: null };
  #server = {
    state: "waiting" as ServerState,
    pid: undefined as number | undefined,
    startedAt: undefined as number | undefined,
    restarts: 0,
    exitCode: undefined as number | undefined,
  };
  #lastPass: PassStatus | undefined;
  #mirror = {
    firstRunDone: false,
    accounts: 0,
    rejected: [] as { file: string; reason: string }[],
    repaired: 0,
    nextExpiry: undefined as number | undefined,
    expiring: [] as { account: string; expires: string }[],
  };
  #admin = {
    state: "off" as AdminState,
    problem: undefined as string | undefined,
    firstPushAttempted: false,
    lastPush: null as StatusDocument["admin"]["last_push"],
  };
  #purge = {
    pending: [] as { account: string; dueAt: number }[],
    lastRefusal: null as StatusDocument["purge"]["last_refusal"],
    lastPurge: null as StatusDocument["purge"]["last_purge"],
  };
  readonly #recent: RecentEntry[] = [];

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  setVersions(potNats: string, natsServer: string | undefined): void {
    this.#versions = { pot_nats: potNats, nats_server: natsServer ?? null };
  }

  serverStarted(pid: number): void {
    if (this.#server.state === "restarting") this.#server.restarts++;
    Object.assign(this.#server, { state: "running", pid, startedAt: this.#now() });
  }

  serverState(state: ServerState, exitCode?: number): void {
    this.#server.state = state;
    if (exitCode !== undefined) this.#server.exitCode = exitCode;
    if (state === "exited") this.#server.pid = undefined;
  }

  get serverRunning(): boolean {
    return this.#server.state === "running" || this.#server.state === "restarting";
  }

  passDone(pass: PassStatus): void {
    this.#lastPass = pass;
  }

  mirrorRun(run: {
    accounts: number;
    rejected: { file: string; reason: string }[];
    repaired: number;
    nextExpiry: number | undefined;
    expiring: { account: string; expires: string }[];
  }): void {
    this.#mirror = {
      firstRunDone: true,
      accounts: run.accounts,
      rejected: run.rejected,
      repaired: this.#mirror.repaired + run.repaired,
      nextExpiry: run.nextExpiry,
      expiring: run.expiring,
    };
  }

  get mirrorDone(): boolean {
    return this.#mirror.firstRunDone;
  }

  adminState(state: AdminState, problem?: string): void {
    this.#admin.state = state;
    if (problem !== undefined) this.#admin.problem = clip(problem);
    else if (state === "up") this.#admin.problem = undefined;
  }

  /** A problem that keeps the admin connection from working (wrong creds, another server). */
  adminProblem(problem: string): void {
    this.#admin.problem = clip(problem);
  }

  pushDone(push: { accounts: number; failed: number; error?: string | undefined }): void {
    this.#admin.firstPushAttempted = true;
    this.#admin.lastPush = {
      at: new Date(this.#now()).toISOString(),
      accounts: push.accounts,
      failed: push.failed,
      error: push.error === undefined ? null : clip(push.error),
    };
  }

  get admin(): { enabled: boolean; firstPushAttempted: boolean; problem: string | undefined } {
    return {
      enabled: this.#admin.state !== "off",
      firstPushAttempted: this.#admin.firstPushAttempted,
      problem: this.#admin.problem,
    };
  }

  purgePlanned(plan: { pending: { account: string; dueAt: number }[]; refused?: string }): void {
    this.#purge.pending = plan.pending;
    if (plan.refused !== undefined) {
      this.#purge.lastRefusal = {
        at: new Date(this.#now()).toISOString(),
        reason: clip(plan.refused, 1000),
      };
    }
  }

  purgeDone(account: string, result: string): void {
    this.#purge.lastPurge = { at: new Date(this.#now()).toISOString(), account, result };
  }

  /** Keeps the last RECENT_MAX warnings and errors (already masked and bounded by the logger). */
  recordLine(level: "warn" | "error", message: string): void {
    this.#recent.push({ time: new Date(this.#now()).toISOString(), level, message });
    if (this.#recent.length > RECENT_MAX) this.#recent.splice(0, this.#recent.length - RECENT_MAX);
  }

  snapshot(): StatusDocument {
    const now = this.#now();
    const server = this.#server;
    return {
      versions: this.#versions,
      server: {
        state: server.state,
        pid: server.pid ?? null,
        started_at: server.startedAt === undefined
          ? null
          : new Date(server.startedAt).toISOString(),
        uptime_seconds: server.startedAt === undefined || server.pid === undefined
          ? null
          : Math.round((now - server.startedAt) / 1000),
        restarts: server.restarts,
        exit_code: server.exitCode ?? null,
      },
      last_pass: this.#lastPass ?? null,
      mirror: {
        first_run_done: this.#mirror.firstRunDone,
        accounts: this.#mirror.accounts,
        rejected_count: this.#mirror.rejected.length,
        rejected: this.#mirror.rejected.slice(0, LIST_MAX).map(({ file, reason }) => ({
          file: clip(file),
          reason: clip(reason),
        })),
        repaired: this.#mirror.repaired,
        next_expiry: this.#mirror.nextExpiry === undefined
          ? null
          : isoFromSeconds(this.#mirror.nextExpiry), // a claim: maybe no date at all
        expiring: this.#mirror.expiring.slice(0, LIST_MAX),
      },
      admin: {
        state: this.#admin.state,
        problem: this.#admin.problem ?? null,
        first_push_attempted: this.#admin.firstPushAttempted,
        last_push: this.#admin.lastPush,
      },
      purge: {
        pending_count: this.#purge.pending.length,
        pending: this.#purge.pending.slice(0, LIST_MAX).map(({ account, dueAt }) => ({
          account,
          due: new Date(dueAt).toISOString(),
          seconds_left: Math.max(0, Math.ceil((dueAt - now) / 1000)),
        })),
        last_refusal: this.#purge.lastRefusal,
        last_purge: this.#purge.lastPurge,
      },
      recent: [...this.#recent],
    };
  }
}

/** What `/readyz` answers: ready, or why not (one line). */
export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * Ready when nats-server runs and (with the monitor on) says it is healthy, the first mirror is
 * done, and, with an admin connection configured, the first full push has been attempted: done,
 * failed, or impossible for a reason `/status` and the metrics show (wrong creds must raise an
 * alert, not take a serving pod out of its Service).
 * @param serverHealth nats-server's `/healthz`: true, false with why, or undefined (monitor off)
 */
export function decideReadiness(
  board: StatusBoard,
  serverHealth: { ok: boolean; reason: string } | undefined,
): Readiness {
  if (!board.serverRunning) return { ready: false, reason: "nats-server is not running" };
  if (serverHealth && !serverHealth.ok) {
    return { ready: false, reason: `nats-server is not healthy: ${serverHealth.reason}` };
  }
  if (!board.mirrorDone) return { ready: false, reason: "the first JWT mirror has not run yet" };
  const admin = board.admin;
  if (admin.enabled && !admin.firstPushAttempted && admin.problem === undefined) {
    return { ready: false, reason: "the first push of the account JWTs has not been attempted" };
  }
  return { ready: true };
}
