/**
 * The purge reconcile run: compares the accounts that have JetStream data with the accounts that
 * have a JWT in the mount and in the resolver dir, lets {@linkcode planPurge} decide, logs the plan
 * one fact per line, and purges what is due (each purge verified by {@linkcode purgeAccount}, and
 * each account checked once more for a JWT in the mount or the resolver dir right before).
 *
 * A run that finds mounted accounts missing from the resolver dir reports them (`onDrift`), so the
 * pipeline writes them back without waiting for the next re-scan.
 *
 * {@linkcode PurgeReconciler} owns the state between runs: when each candidate was first seen
 * without a JWT (`absentSince`, in memory: a supervisor restart starts every grace period again,
 * which only ever delays a purge), and the timer of the follow-up run that purges a candidate once
 * its grace period is over, without waiting for another file change. Runs never overlap: a run
 * requested while one is running starts once it is done, and any number of such requests make
 * exactly one more run.
 *
 * @module
 */

import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { type Logger, show } from "../shared/log.ts";
import { hasJetStreamData } from "./jetstream_data.ts";
import { accountOfFileName, jwtFileName, listJwtNames } from "../jwt/jwt_files.ts";
import { pathExists } from "../shared/path_exists.ts";
import { purgeAccount, type PurgeAccountOptions, type PurgeResult } from "./purge.ts";
import { planPurge, type PurgePlan } from "./plan.ts";
import { errorMessage } from "../shared/errors.ts";
import { Report } from "../report/report.ts";

export interface PurgeReconcilerOptions {
  /** `POT_NATS_PURGE_GRACE_SECONDS` in ms. */
  graceMs: number;
  /** `POT_NATS_PURGE_MAX`; undefined means the default (half of the accounts with data, at least 1). */
  max?: number;
  /** `POT_NATS_PURGE_DRY_RUN`. */
  dryRun: boolean;
  /** The full resolver's dir (`NATS_JWT_DIR`). */
  resolverDir: string;
  /** The JWT mount (`NATS_JWT_MOUNT_DIR`): an account with a JWT file here is never purged. */
  mountDir: string;
  /** Called with the mounted accounts a run found without a JWT in the resolver dir. */
  onDrift?: (accounts: string[]) => void;
  /** The system account's public key (never purged), or a function reading the current one. */
  systemAccount?: string | (() => string | undefined);
  /**
   * The JetStream store dir, as `findStoreDir` returns it (the run lists `<dir>/jetstream/`), or
   * null when JetStream is disabled (the run then does nothing).
   */
  findStoreDir: () => Promise<string | null>;
  /** The admin connection once it is up (e.g. `() => admin.ready()`); asked only when a purge is due. */
  connection: () => Promise<NatsConnection>;
  log: Logger;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** Passed on to every {@linkcode purgeAccount} (timeouts, attempts). */
  purge?: Pick<PurgeAccountOptions, "timeoutMs" | "attempts" | "retryDelayMs" | "verifyTimeoutMs">;
  /** Where purges, refusals and pending accounts are reported (default: a report nobody reads). */
  report?: Report;
}

/** What one run did. */
export interface PurgeRunReport {
  /** Set when the run looked at nothing (JetStream disabled, reconciler closed, a read failed). */
  skipped?: string;
  /** The plan, unless the run was skipped. */
  plan?: PurgePlan;
  /** One result per purge attempted in this run. */
  results: PurgeResult[];
}

/** Runs purge reconciles one at a time and remembers candidates between runs. */
export class PurgeReconciler implements AsyncDisposable {
  readonly #options: PurgeReconcilerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #absentSince = new Map<string, number>();
  #current: Promise<PurgeRunReport> | undefined;
  #queued: Promise<PurgeRunReport> | undefined;
  #followUp: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #report: Report;
  /** Ends a purge's waits when the reconciler is closed, so a stop is never held up by one. */
  readonly #closing = new AbortController();

  constructor(options: PurgeReconcilerOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#report = options.report ?? Report.unread();
  }

  /**
   * Runs a reconcile now, or right after the one that is running.
   * @returns the report of a run that started after this call; never rejects
   */
  run(): Promise<PurgeRunReport> {
    if (this.#closed) return Promise.resolve({ skipped: "the reconciler is closed", results: [] });
    if (this.#queued) return this.#queued;
    if (this.#current) {
      const queued = this.#current.then(() => {
        this.#queued = undefined;
        return this.#start();
      });
      this.#queued = queued;
      return queued;
    }
    return this.#start();
  }

  /** Cancels the follow-up timer and waits for a running (and a queued) run to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    this.#clearFollowUp();
    await this.#queued;
    await this.#current;
    this.#clearFollowUp();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #start(): Promise<PurgeRunReport> {
    if (this.#closed) return Promise.resolve({ skipped: "the reconciler is closed", results: [] });
    const running: Promise<PurgeRunReport> = this.#runOnce()
      .catch((error): PurgeRunReport => {
        // #runOnce handles its own errors; this only keeps run() from ever rejecting.
        this.#log.error("purge reconcile failed", { error });
        return { skipped: `failed: ${errorMessage(error)}`, results: [] };
      })
      .finally(() => {
        if (this.#current === running) this.#current = undefined;
      });
    this.#current = running;
    return running;
  }

  async #runOnce(): Promise<PurgeRunReport> {
    const log = this.#log;
    let storeDir: string | null;
    try {
      storeDir = await this.#options.findStoreDir();
    } catch (error) {
      log.error("purge reconcile skipped: could not find the JetStream store dir", { error });
      return { skipped: `could not find the store dir: ${errorMessage(error)}`, results: [] };
    }
    if (storeDir === null) {
      log.debug("purge reconcile skipped: JetStream is disabled");
      this.#forgetPlan();
      return { skipped: "JetStream is disabled", results: [] };
    }
    const jetstreamDir = join(storeDir, "jetstream");

    let storeDirNames: string[];
    let resolverAccounts: Set<string>;
    try {
      storeDirNames = await listSubdirectories(jetstreamDir);
      resolverAccounts = accountsWithJwt(this.#options.resolverDir);
    } catch (error) {
      log.error("purge reconcile skipped: could not list a directory", { error });
      return { skipped: `could not list a directory: ${errorMessage(error)}`, results: [] };
    }
    let mountAccounts: Set<string> | undefined;
    try {
      mountAccounts = accountsWithJwt(this.#options.mountDir);
    } catch (error) {
      // The plan refuses the run without a mount listing; say why here.
      log.error("purge reconcile: could not list the JWT mount", {
        mount: this.#options.mountDir,
        error,
      });
    }
    const drifted = [...mountAccounts ?? []].filter((account) => !resolverAccounts.has(account));
    if (drifted.length > 0) this.#options.onDrift?.(drifted);
    if (!storeDirNames.some((name) => isAccountPublicKey(name))) {
      log.debug("purge reconcile: no account has JetStream data", { dir: jetstreamDir });
      this.#forgetPlan();
      return { results: [] };
    }

    const systemAccount = typeof this.#options.systemAccount === "function"
      ? this.#options.systemAccount()
      : this.#options.systemAccount;
    const now = this.#now();
    const plan = planPurge({
      storeDirNames,
      resolverAccounts,
      mountAccounts,
      ...(systemAccount !== undefined ? { systemAccount } : {}),
      absentSince: this.#absentSince,
      now,
      graceMs: this.#options.graceMs,
      ...(this.#options.max !== undefined ? { max: this.#options.max } : {}),
      dryRun: this.#options.dryRun,
      isAccountKey: isAccountPublicKey,
    });
    this.#absentSince = plan.absentSince;
    this.#logPlan(plan, now, jetstreamDir);
    this.#reportPlan(plan, now);
    this.#scheduleFollowUp(plan);

    const results: PurgeResult[] = [];
    if (plan.purge.length === 0) return { plan, results };
    let nc: NatsConnection;
    try {
      nc = await this.#options.connection();
    } catch (error) {
      log.error("purge reconcile: no admin connection; nothing purged (retried on the next run)", {
        accounts: plan.purge.length,
        error,
      });
      return {
        plan,
        results: plan.purge.map((account) => ({
          account,
          purged: false,
          reason: `no admin connection: ${errorMessage(error)}`,
        })),
      };
    }
    for (const account of plan.purge) {
      if (this.#closed) break;
      const seenIn = await this.#jwtReappeared(account);
      if (seenIn) {
        log.warn(`purge of account ${account} skipped: its JWT is in the ${seenIn} again`, {
          account,
        });
        results.push({ account, purged: false, reason: `its JWT is in the ${seenIn}` });
        continue;
      }
      const result = await purgeAccount(nc, account, {
        ...this.#options.purge,
        signal: this.#closing.signal,
        jetstreamDir,
        log,
        ...(systemAccount !== undefined ? { systemAccount } : {}),
      });
      results.push(result);
      const outcome = result.purged ? "purged" : "failed";
      this.#report.metrics.purges.inc({ result: outcome });
      this.#report.status.purgeDone(account, outcome);
    }
    return { plan, results };
  }

  /** The plan's state for the metrics and `/status`. */
  #reportPlan(plan: PurgePlan, now: number): void {
    const { metrics, status } = this.#report;
    if (plan.refused) metrics.purges.inc({ result: "refused" });
    metrics.purges.inc({ result: "dry_run" }, plan.wouldPurge.length);
    metrics.purgePendingAccounts.set(plan.waiting.length);
    status.purgePlanned({
      pending: plan.waiting.map(({ account, dueInMs }) => ({ account, dueAt: now + dueInMs })),
      ...(plan.refused ? { refused: plan.refused } : {}),
    });
  }

  /**
   * The last look before a purge: the plan was made from listings taken a moment ago, and a purge
   * run may take seconds. A dangling symlink (a kubelet volume mid-update) counts as present.
   */
  async #jwtReappeared(account: string): Promise<"mount" | "resolver dir" | undefined> {
    const name = jwtFileName(account);
    if (await pathExists(join(this.#options.mountDir, name), { followSymlinks: false })) {
      return "mount";
    }
    if (await pathExists(join(this.#options.resolverDir, name), { followSymlinks: false })) {
      return "resolver dir";
    }
    return undefined;
  }

  #logPlan(plan: PurgePlan, now: number, jetstreamDir: string): void {
    const log = this.#log;
    if (plan.refused) {
      log.warn(plan.refused, { resolver: this.#options.resolverDir, store: jetstreamDir });
      return;
    }
    for (const name of plan.ignored) {
      log.debug(`purge: ignoring ${show(name)} in the store dir: not an account public key`);
    }
    for (const { account, dueInMs } of plan.waiting) {
      log.info(
        `purge: account ${account} has JetStream data but no JWT; its data is purged when the ` +
          `grace period ends, unless its JWT returns`,
        { account, due: new Date(now + dueInMs).toISOString() },
      );
    }
    for (const account of plan.wouldPurge) {
      log.info(`purge dry run: would purge the JetStream data of account ${account}`, {
        account,
      });
    }
    for (const account of plan.purge) {
      log.info(`purge: purging the JetStream data of account ${account} (no JWT, grace over)`, {
        account,
      });
    }
  }

  /** One timer, for the earliest waiting candidate; replaced by every run. */
  #scheduleFollowUp(plan: PurgePlan): void {
    this.#clearFollowUp();
    if (this.#closed || plan.waiting.length === 0) return;
    const dueInMs = Math.min(...plan.waiting.map((waiting) => waiting.dueInMs));
    this.#followUp = setTimeout(() => {
      this.#followUp = undefined;
      void this.run();
    }, Math.max(0, dueInMs));
  }

  /** Nothing is pending any more: no account waits out its grace, none is reported pending. */
  #forgetPlan(): void {
    this.#absentSince = new Map();
    this.#clearFollowUp();
    this.#report.metrics.purgePendingAccounts.set(0);
    this.#report.status.purgePlanned({ pending: [] });
  }
  #clearFollowUp(): void {
    if (this.#followUp !== undefined) clearTimeout(this.#followUp);
    this.#followUp = undefined;
  }
}

/**
 * Names of the subdirectories of `dir`, leaving out account directories that hold no data (a
 * cluster purge leaves an empty `<account>/streams/` behind); none when `dir` does not exist.
 */
async function listSubdirectories(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) continue;
      if (isAccountPublicKey(entry.name) && !(await hasJetStreamData(join(dir, entry.name)))) {
        continue;
      }
      names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names;
}

/**
 * The accounts with a `<pub>.jwt` file in `dir` (the resolver dir or the mount), valid or not. A
 * present but invalid JWT counts as present on purpose: the server may still serve the account from
 * it, and a broken JWT (bad rotation, wrong signer) is a fault to fix, never a reason to destroy the
 * account's data. Tombstones of deleted accounts (`<pub>.jwt.deleted`) do not count. A missing dir
 * is empty.
 */
function accountsWithJwt(dir: string): Set<string> {
  const accounts = new Set<string>();
  for (const name of listJwtNames(dir) ?? []) {
    const account = accountOfFileName(name);
    if (isAccountPublicKey(account)) accounts.add(account);
  }
  return accounts;
}
