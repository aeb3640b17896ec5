/**
 * The JWT mirror (`NATS_JWT_MOUNT_DIR` -> `NATS_JWT_DIR`) as the pipeline runs it: takes the mount
 * files a scan has read, checks them against the operator named in the server config, plans, applies,
 * and logs what happened in one line per fact. A fact that stays true (a rejected file, a refused
 * removal) is logged once, not on every pass.
 *
 * Checks are cached by file name, content and trust, so a change of one account among 10,000 costs
 * one signature check and one write, not 10,000.
 *
 * Every run compares the mount with the resolver dir as it is on disk, so it also repairs drift: a
 * mounted account whose resolver file was deleted, tombstoned or replaced behind the supervisor's
 * back is written back (and pushed by the caller), with a warning saying what was found.
 */

import { join } from "node:path";
import type { ServerView } from "../config/server_view.ts";
import { isAccountPublicKey, type Trust } from "../jwt/account_jwt.ts";
import { rejectionReason } from "../report/metrics.ts";
import { Report } from "../report/report.ts";
import type { FileGuard } from "../shared/bounded_read.ts";
import { clip, type Logger, show } from "../shared/log.ts";
import { pathExists } from "../shared/path_exists.ts";
import { applyMirrorPlan, checkMountFile, type MountFile, readResolverDir } from "./files.ts";
import { issuedAt, type MirrorPlan, type MountEntry, planMirror } from "./plan.ts";
import { accountOfFileName } from "../jwt/jwt_files.ts";
import { pause } from "../shared/timing.ts";

export interface JwtChanges {
  added: string[];
  changed: string[];
  removed: string[];
  /** Accounts written back because the resolver dir had lost or changed their JWT (drift). */
  repaired: string[];
  /** The checked JWT written for each added or changed account (what to push). */
  jwts: Map<string, string>;
  /** When the change was first noticed (ms since the epoch), to measure its reaction time. */
  detectedAt?: number;
}

export interface JwtMirrorOptions {
  mountDir: string;
  resolverDir: string;
  log: Logger;
  /** `POT_NATS_REMOVE_MAX`; undefined: half of the accounts in the resolver dir, at least 1. */
  removeMax?: number;
  /** Reads the resolver dir (the mount and the config are read by the scan). */
  files?: FileGuard;
  /** Where the mirror's state is reported (default: a report nobody reads). */
  report?: Report;
  /** `POT_NATS_EXPIRY_WARN_DAYS`: a JWT expiring within this many days is warned about daily. */
  expiryWarnDays?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /**
   * Runs before the files of removed accounts are deleted (the live account delete): nats-server
   * closes a deleted account's connections only while its JWT file still exists.
   */
  beforeRemove?: (accounts: string[]) => Promise<void>;
  /** Checks one mounted file (default `checkMountFile`; tests count the calls). */
  checkFile?: typeof checkMountFile;
}

export interface MirrorOutcome {
  changes: JwtChanges;
  /** Files that could not be written or removed; the next pass retries them. */
  failed: number;
  /** JWTs refused only for their validity window (`nbf` ahead, `exp` past): time may change that. */
  timeRejected: number;
}

export class JwtMirror {
  readonly #options: JwtMirrorOptions;
  readonly #checked = new Map<string, { text: string; trustKey: string; entry: MountEntry }>();
  /** File name -> the JWT last seen identical in the mount and the resolver dir. */
  readonly #known = new Map<string, string>();
  /** What was last logged about a lasting fact (key -> text), so it is logged once. */
  readonly #reported = new Map<string, string>();
  /** Account -> when its coming expiry was last warned about. */
  readonly #expiryWarned = new Map<string, number>();
  readonly #report: Report;
  readonly #now: () => number;

  constructor(options: JwtMirrorOptions) {
    this.#options = options;
    this.#report = options.report ?? Report.unread();
    this.#now = options.now ?? Date.now;
  }

  /**
   * Mirrors the mount once. `files` are the mount's files as a scan read them (undefined: the
   * mount does not exist; see {@linkcode readMountFiles}); `config` is the server config the same
   * pass read, whose operator the JWTs must be issued by.
   * @returns the accounts added, changed and removed (only those written or removed successfully).
   * @throws when the config's trust cannot be read (nothing is changed then).
   */
  async apply(
    files: MountFile[] | undefined,
    config: ServerView,
    options: { detectedAt?: number } = {},
  ): Promise<MirrorOutcome> {
    const { log, resolverDir, files: guard } = this.#options;
    const confPath = config.confPath;
    const readOptions = guard ? { files: guard } : {};
    const { trust, systemAccount } = config;
    if (trust.operatorKeys.size === 0 && trust.signingKeys.size === 0 && (files ?? []).length > 0) {
      this.#reportOnce(
        "no-trust",
        "",
        () =>
          log.warn("the server config names no trusted operator; mounted JWTs cannot be mirrored", {
            conf: confPath,
          }),
      );
    }
    const entries = this.#check(files ?? [], trust);
    const planOptions = {
      ...(systemAccount ? { systemAccount } : {}),
      ...(this.#options.removeMax !== undefined ? { removeMax: this.#options.removeMax } : {}),
      known: this.#known,
    };
    let resolverFiles = readResolverDir(resolverDir, readOptions);
    let plan = planMirror(entries, resolverFiles, planOptions);
    if (await this.#rereadIfMidWrite(plan, resolverFiles)) {
      resolverFiles = readResolverDir(resolverDir, readOptions);
      plan = planMirror(entries, resolverFiles, planOptions);
    }
    // The file guard has said once why it did not read these; the mirror need not say it again.
    const guarded = new Set(
      (files ?? []).filter((f) => "rejected" in f && f.rejected).map((f) => f.name),
    );
    this.#logPlan(plan, resolverFiles, { systemAccount, guarded });
    await this.#logRepairs(plan, resolverFiles);
    const timeRejected = entries.filter((e) => !e.check.ok && e.check.timeDependent).length;
    if (plan.write.length === 0 && plan.remove.length === 0) {
      log.debug("JWT mirror: nothing to write", { unchanged: plan.unchanged.length });
      this.#remember(plan, { written: [], removed: [] }, entries);
      const changes = { added: [], changed: [], removed: [], repaired: [], jwts: new Map() };
      this.#reportRun(plan, resolverFiles, changes, entries);
      return { changes, failed: 0, timeRejected };
    }
    if (plan.removed.length > 0 && this.#options.beforeRemove) {
      await this.#options.beforeRemove(plan.removed).catch((error) =>
        log.error(`live delete of removed accounts failed: ${(error as Error).message}`)
      );
    }
    const result = await applyMirrorPlan(plan, resolverDir);
    for (const failure of result.failed) {
      log.error(`JWT mirror could not update ${show(failure.name)}: ${clip(failure.error)}`, {
        hint: "retried on the next change or re-scan",
      });
    }
    this.#remember(plan, result, entries);
    const done = new Set([...result.written, ...result.removed].map(accountOfFileName));
    const changes: JwtChanges = {
      added: plan.added.filter((a) => done.has(a)),
      changed: plan.changed.filter((a) => done.has(a)),
      removed: plan.removed.filter((a) => done.has(a)),
      repaired: plan.repaired.map((r) => r.account).filter((a) => done.has(a)),
      jwts: new Map(
        plan.write.filter((w) => done.has(accountOfFileName(w.name))).map((
          w,
        ) => [accountOfFileName(w.name), w.jwt]),
      ),
      ...(options.detectedAt !== undefined ? { detectedAt: options.detectedAt } : {}),
    };
    log.info("JWT mirror applied", {
      added: changes.added.length,
      changed: changes.changed.length,
      removed: changes.removed.length,
      repaired: changes.repaired.length || undefined,
      unchanged: plan.unchanged.length,
      failed: result.failed.length,
    });
    this.#reportRun(plan, resolverFiles, changes, entries);
    return { changes, failed: result.failed.length, timeRejected };
  }

  /** The run's state for the metrics and `/status`; warns daily about JWTs that expire soon. */
  #reportRun(
    plan: MirrorPlan,
    resolverFiles: ReadonlyMap<string, string>,
    changes: JwtChanges,
    entries: MountEntry[],
  ): void {
    const { metrics, status } = this.#report;
    const before =
      [...resolverFiles.keys()].filter((name) => isAccountPublicKey(accountOfFileName(name)))
        .length;
    const accounts = before + changes.added.length - changes.removed.length;
    const expiry = this.#expiry(entries);
    metrics.jwtAccounts.set(accounts);
    metrics.jwtRejectedFiles.set(plan.rejected.length);
    metrics.jwtRepairs.inc(changes.repaired.length);
    metrics.jwtNextExpiry.set(expiry.next ?? 0);
    metrics.jwtExpiringAccounts.set(expiry.expiring.length);
    status.mirrorRun({
      accounts,
      rejected: plan.rejected.map(({ name, reason }) => ({ file: name, reason })),
      repaired: changes.repaired.length,
      nextExpiry: expiry.next,
      expiring: expiry.expiring,
    });
  }

  /**
   * The earliest expiry among the mounted valid JWTs, and the accounts expiring within the warning
   * window, each warned about once a day.
   */
  #expiry(entries: MountEntry[]): {
    next: number | undefined;
    expiring: { account: string; expires: string }[];
  } {
    const now = this.#now();
    const windowMs = (this.#options.expiryWarnDays ?? 7) * DAY_MS;
    let next: number | undefined;
    const expiring: { account: string; expires: string }[] = [];
    for (const { check } of entries) {
      if (!check.ok || check.claims.exp === undefined) continue;
      const exp = check.claims.exp;
      next = next === undefined ? exp : Math.min(next, exp);
      if (exp * 1000 - now > windowMs) continue;
      const account = check.claims.sub;
      const expires = new Date(exp * 1000).toISOString();
      expiring.push({ account, expires });
      const warned = this.#expiryWarned.get(account);
      if (warned === undefined || now - warned >= DAY_MS) {
        this.#expiryWarned.set(account, now);
        this.#options.log.warn(`the JWT of account ${account} expires at ${expires}`, {
          account,
          hint: "mount a renewed JWT for it before then; an expired JWT is not mirrored",
        });
      }
    }
    return { next, expiring };
  }

  /**
   * nats-server rewrites a resolver file in place when it stores a push, so a read can catch it
   * empty or half-written for a moment (measured: ~2 ms). A repair of such a copy is looked at
   * once more before it is believed.
   * @returns true when the resolver dir should be read again
   */
  async #rereadIfMidWrite(plan: MirrorPlan, resolverFiles: Map<string, string>): Promise<boolean> {
    const suspicious = plan.repaired.some(({ account, found }) =>
      found === "different" && issuedAt(resolverFiles.get(`${account}.jwt`)) === undefined
    );
    if (!suspicious) return false;
    await pause(MID_WRITE_PAUSE_MS);
    return true;
  }

  /** Logs the plan's lasting facts (rejections, older mounted JWTs, a refused removal) once. */
  #logPlan(
    plan: MirrorPlan,
    resolverFiles: ReadonlyMap<string, string>,
    context: { systemAccount: string | undefined; guarded: ReadonlySet<string> },
  ): void {
    const { log, mountDir } = this.#options;
    const { systemAccount, guarded } = context;
    const current = new Set<string>();
    for (const rejected of plan.rejected) {
      const key = `rejected:${rejected.name}`;
      current.add(key);
      const text = this.#checked.get(rejected.name)?.text ?? "";
      this.#reportOnce(key, `${rejected.reason}\0${rejected.keptPrevious}\0${text}`, () => {
        this.#report.metrics.jwtRejections.inc({ reason: rejectionReason(rejected.reason) });
        if (guarded.has(rejected.name)) return;
        log.error(`mounted JWT ${show(rejected.name)} rejected: ${rejected.reason}`, {
          kept: rejected.keptPrevious
            ? "the previously mirrored version"
            : "nothing (not mirrored)",
        });
      });
    }
    for (const kept of plan.newerInResolver) {
      const key = `older:${kept.name}`;
      current.add(key);
      this.#reportOnce(key, `${kept.mountIat}:${kept.resolverIat}`, () =>
        log.warn(
          `mounted JWT ${show(kept.name)} is older than the server's copy; keeping the newer one`,
          {
            mount_iat: kept.mountIat,
            resolver_iat: kept.resolverIat,
            hint: "a cluster peer pushed a newer JWT; this node's mount has not caught up yet",
          },
        ));
    }
    if (plan.refusedRemoval) {
      current.add("removal");
      // Loud only when the refusal protects something: account JWTs the pass would remove.
      const protectedFiles = [...resolverFiles.keys()].filter((name) =>
        name !== `${systemAccount}.jwt`
      );
      const level = protectedFiles.length > 0 ? "warn" : "debug";
      this.#reportOnce(
        "removal",
        plan.refusedRemoval,
        () => log[level](plan.refusedRemoval!, { mount: mountDir, kept: protectedFiles.length }),
      );
    }
    // A fact that no longer holds is forgotten, so it is logged again should it return.
    for (const key of this.#reported.keys()) {
      if (key !== "no-trust" && !current.has(key)) this.#reported.delete(key);
    }
  }

  /** One warning per repaired account: what the resolver dir held, and what happens now. */
  async #logRepairs(plan: MirrorPlan, resolverFiles: ReadonlyMap<string, string>): Promise<void> {
    for (const { account, found } of plan.repaired) {
      const name = `${account}.jwt`;
      const fields = { account, resolver: this.#options.resolverDir };
      if (found === "different") {
        this.#options.log.warn(
          `resolver drift: the resolver dir held a different JWT for account ${account} than the ` +
            "mount; writing the mounted one back and pushing it",
          { ...fields, resolver_iat: issuedAt(resolverFiles.get(name)) ?? "unreadable" },
        );
      } else if (await pathExists(join(this.#options.resolverDir, `${name}.deleted`))) {
        this.#options.log.warn(
          `resolver drift: account ${account} was deleted on the server (${name}.deleted, as a ` +
            "$SYS.REQ.CLAIMS.DELETE leaves it) but is still in the mount; writing its JWT back " +
            "and pushing it",
          {
            ...fields,
            hint: "nats-server keeps refusing the account's users until it restarts or the " +
              "account gets a newer JWT: it ignores a re-push of the JWT it deleted",
          },
        );
      } else {
        this.#options.log.warn(
          `resolver drift: the JWT of account ${account} was missing from the resolver dir ` +
            "although it is in the mount; writing it back and pushing it",
          fields,
        );
      }
    }
  }

  /** Records which JWTs are now in step in the mount and the resolver dir. */
  #remember(
    plan: MirrorPlan,
    result: { written: string[]; removed: string[] },
    entries: MountEntry[],
  ): void {
    const written = new Map(plan.write.map((w) => [w.name, w.jwt]));
    for (const name of result.written) this.#known.set(name, written.get(name)!);
    for (const name of result.removed) this.#known.delete(name);
    // By name: a find() per unchanged file was quadratic (~300 ms a pass at 10,000 accounts).
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const name of plan.unchanged) {
      const entry = byName.get(name);
      if (entry?.check.ok) this.#known.set(name, entry.check.jwt);
    }
    const mounted = byName;
    for (const name of this.#known.keys()) if (!mounted.has(name)) this.#known.delete(name);
  }

  /** Calls `log` unless the same text was last logged under `key`. */
  #reportOnce(key: string, text: string, log: () => void): void {
    if (this.#reported.get(key) === text) return;
    this.#reported.set(key, text);
    log();
  }

  /** Checks each file, reusing the result for a file whose content and trust are unchanged. */
  #check(files: MountFile[], trust: Trust): MountEntry[] {
    const trustKey = [...trust.operatorKeys, "|", ...trust.signingKeys].join(",");
    const seen = new Set<string>();
    const entries = files.map((file) => {
      seen.add(file.name);
      const text = "text" in file ? file.text : undefined;
      const cached = this.#checked.get(file.name);
      if (text !== undefined && cached?.text === text && cached.trustKey === trustKey) {
        return cached.entry;
      }
      const entry = (this.#options.checkFile ?? checkMountFile)(file, trust);
      // A verdict that depends on the clock (exp/nbf) is checked again on every pass.
      if (text !== undefined && !entry.check.timeDependent) {
        this.#checked.set(file.name, { text, trustKey, entry });
      } else {
        this.#checked.delete(file.name);
      }
      return entry;
    });
    for (const name of this.#checked.keys()) if (!seen.has(name)) this.#checked.delete(name);
    return entries;
  }
}

const DAY_MS = 86_400_000;

/** How long a resolver copy caught mid-write is given before it is read again. */
const MID_WRITE_PAUSE_MS = 20;
