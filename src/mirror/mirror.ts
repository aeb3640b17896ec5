/**
 * The JWT mirror (`NATS_JWT_MOUNT_DIR` -> `NATS_JWT_DIR`) as the pipeline runs it: takes the mount
 * files a scan has read, checks them against the operator named in the server config, plans, applies,
 * and logs what happened in one line per fact. A fact that stays true (a rejected file, a refused
 * removal) is logged once, not on every pass.
 *
 * Checks are cached by file name, content digest and trust ({@linkcode CheckCache}), so a change
 * of one account among 10,000 costs one signature check and one write, not 10,000.
 *
 * The resolver dir is compared with the mount as it is on disk: as a whole on a drift check (and
 * whenever an account may be removed), else file by file for the files the run may write, the
 * rest vouched for by a model of the dir ({@linkcode ResolverModel}, `resolver_model.ts`). So a
 * drift check repairs drift: a mounted account whose resolver file was deleted, tombstoned or
 * replaced behind the supervisor's back is written back (and pushed by the caller), with a warning
 * saying what was found.
 *
 * Only digests are held between runs, never the mount's or the resolver dir's documents; a valid
 * JWT's text is read when it may be written (the scan keeps it when {@linkcode JwtMirror.needsText}
 * says so, else the file is read again here).
 */

import type { ServerView } from "../config/server_view.ts";
import type { Trust } from "../jwt/account_jwt.ts";
import { Report } from "../report/report.ts";
import { FileGuard } from "../shared/bounded_read.ts";
import { contentDigest } from "../shared/digest.ts";
import { clip, type Logger, show } from "../shared/log.ts";
import { CheckCache } from "./check_cache.ts";
import { MirrorReporter } from "./mirror_report.ts";
import {
  checkMountFile,
  type MountFile,
  mountSnapshot,
  readMountFile,
  readResolverCopiesLettingGo,
} from "./files.ts";
import { applyMirrorPlan, type MirrorResult } from "./writes.ts";
import { FileDigests } from "../shared/file_digests.ts";
import type { MirrorPlan, MountEntry, ResolverCopy } from "./plan.ts";
import {
  nextModel,
  type PlannedRun,
  planRun,
  type ResolverModel,
  resolverReads,
} from "./resolver_model.ts";
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
  /**
   * Reads the resolver dir, and a mounted file again when its text is needed (the mount and the
   * config are read by the scan).
   */
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
  /**
   * Files that could not be written or removed, or that changed while the run read them again;
   * the next pass retries them.
   */
  failed: number;
  /** JWTs refused only for their validity window (`nbf` ahead, `exp` past): time may change that. */
  timeRejected: number;
}

/** The reason given to a mounted file that changed between the scan and the mirror's read. */
const CHANGED_WHILE_READ = "it changed while it was read; it is read again on the next pass";

export class JwtMirror {
  readonly #options: JwtMirrorOptions;
  readonly #checks = new CheckCache();
  readonly #files: FileGuard;
  /** Resolver files' digests by identity: a drift check of an unchanged dir opens no file. */
  readonly #resolverDigests = new FileDigests();
  /** Where this run reads a mounted file again (the mount's snapshot), once it needs to. */
  #readDir: string | undefined;
  /** The resolver dir as last read or written; undefined: not to be trusted, read it whole. */
  #model: ResolverModel | undefined;
  /** File name -> digest of the JWT last seen identical in the mount and the resolver dir. */
  readonly #known = new Map<string, string>();
  readonly #says: MirrorReporter;

  constructor(options: JwtMirrorOptions) {
    this.#options = options;
    this.#files = options.files ?? new FileGuard();
    this.#says = new MirrorReporter({
      mountDir: options.mountDir,
      resolverDir: options.resolverDir,
      log: options.log,
      report: options.report ?? Report.unread(),
      expiryWarnDays: options.expiryWarnDays,
      now: options.now ?? Date.now,
    });
  }

  /**
   * Whether the next run needs a mounted file's text: unless this content was checked before and
   * was either rejected or is, by the model, what the resolver dir holds already. (The scan asks,
   * so a pass over 10,000 unchanged files holds no document; a file it did not keep is read again
   * should the run need it after all.)
   */
  needsText(name: string, fileDigest: string): boolean {
    if (this.#checks.rejected(name, fileDigest)) return false;
    const jwtDigest = this.#checks.validDigest(name, fileDigest);
    return jwtDigest === undefined || this.#model?.get(name) !== jwtDigest;
  }

  /**
   * Mirrors the mount once. `files` are the mount's files as a scan read them (undefined: the
   * mount does not exist; see {@linkcode readMountFiles}); `config` is the server config the same
   * pass read, whose operator the JWTs must be issued by. `readAll` (default true): compare with
   * every file of the resolver dir, a drift check; false: read only the files this run may write,
   * and every file when an account may be removed.
   * @returns the accounts added, changed and removed (only those written or removed successfully).
   * @throws when the config's trust cannot be read (nothing is changed then).
   */
  async apply(
    files: MountFile[] | undefined,
    config: ServerView,
    options: { detectedAt?: number; readAll?: boolean } = {},
  ): Promise<MirrorOutcome> {
    const { log, resolverDir } = this.#options;
    const confPath = config.confPath;
    const { trust, systemAccount } = config;
    if (trust.operatorKeys.size === 0 && trust.signingKeys.size === 0 && (files ?? []).length > 0) {
      this.#says.noTrust(confPath);
    }
    // Until this run ends well, nothing is known of the resolver dir: an error reads it whole.
    const model = this.#model;
    this.#model = undefined;
    const changedWhileRead = new Set<string>();
    this.#readDir = undefined;
    const mount = new MountFiles(files ?? []);
    const entries = this.#check(mount, trust, changedWhileRead);
    const planOptions = {
      ...(systemAccount ? { systemAccount } : {}),
      ...(this.#options.removeMax !== undefined ? { removeMax: this.#options.removeMax } : {}),
      known: this.#known,
      readAll: options.readAll ?? true,
      withText: (entry: MountEntry) => this.#withText(entry, mount, changedWhileRead),
    };
    // What the plan needs of the resolver dir, read ahead of it, letting the event loop run (a
    // drift check of 100,000 files takes seconds).
    const readAhead = async (mounted: MountEntry[]) => {
      const reads = resolverReads(mounted, model, planOptions);
      const names = reads.all ? undefined : reads.names;
      const copies = await readResolverCopiesLettingGo(resolverDir, {
        files: this.#files,
        mounted: mount.jwtDigests(entries, names),
        digests: this.#resolverDigests,
        ...(names ? { names } : {}),
      });
      return { ...planOptions, reads, read: () => copies };
    };
    let run = planRun(entries, model, await readAhead(entries));
    if (await this.#rereadIfMidWrite(run.plan, run.view)) {
      run = planRun(run.mount, model, await readAhead(run.mount));
    }
    const { plan, view } = run;
    log.debug("JWT mirror: planned", {
      resolver_read: run.reads.all ? `all (${run.reads.why})` : run.reads.names.length,
    });
    // The file guard has said once why it did not read these; the mirror need not say it again.
    const guarded = new Set(
      (files ?? []).filter((f) => "rejected" in f && f.rejected).map((f) => f.name),
    );
    for (const name of changedWhileRead) guarded.add(name);
    if (changedWhileRead.size > 0) {
      log.debug("mounted JWTs changed while the mirror read them; the next pass reads them again", {
        files: changedWhileRead.size,
      });
    }
    this.#says.plan(plan, view, { systemAccount, guarded, entries: run.mount });
    await this.#says.repairs(plan, view);
    const timeRejected = run.mount.filter((e) => !e.check.ok && e.check.timeDependent).length;
    if (plan.write.length === 0 && plan.remove.length === 0) {
      log.debug("JWT mirror: nothing to write", { unchanged: plan.unchanged.length });
      this.#remember(run, { written: [], removed: [], failed: [] });
      const changes = { added: [], changed: [], removed: [], repaired: [], jwts: new Map() };
      this.#says.run(plan, view, changes, run.mount);
      return { changes, failed: changedWhileRead.size, timeRejected };
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
    this.#remember(run, result);
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
    this.#says.run(plan, view, changes, run.mount);
    return { changes, failed: result.failed.length + changedWhileRead.size, timeRejected };
  }

  /**
   * nats-server rewrites a resolver file in place when it stores a push, so a read can catch it
   * empty or half-written for a moment (measured: ~2 ms). A repair of such a copy is looked at
   * once more before it is believed.
   * @returns true when the resolver dir should be read again
   */
  async #rereadIfMidWrite(
    plan: MirrorPlan,
    view: ReadonlyMap<string, ResolverCopy>,
  ): Promise<boolean> {
    const suspicious = plan.repaired.some(({ account, found }) =>
      found === "different" && view.get(`${account}.jwt`)?.iat === undefined
    );
    if (!suspicious) return false;
    await pause(MID_WRITE_PAUSE_MS);
    return true;
  }

  /**
   * Records what the resolver dir now holds (the model) and which JWTs are in step in the mount
   * and the resolver dir.
   */
  #remember(run: PlannedRun, result: MirrorResult): void {
    const { plan, mount: entries } = run;
    this.#model = nextModel(run, result);
    if (plan.unread !== undefined) {
      // Cannot happen: every file the plan could touch was read. Reading all next time is safe.
      this.#options.log.error("JWT mirror: files left alone for want of reading them", {
        files: plan.unread.join(","),
        hint: "the resolver dir is read whole on the next pass",
      });
    }
    const written = new Map(plan.write.map((w) => [w.name, w.digest ?? contentDigest(w.jwt)]));
    for (const name of result.written) this.#known.set(name, written.get(name)!);
    for (const name of result.removed) this.#known.delete(name);
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const name of plan.unchanged) {
      const digest = byName.get(name)?.digest;
      if (digest !== undefined && this.#known.get(name) !== digest) this.#known.set(name, digest);
    }
    for (const name of this.#known.keys()) if (!byName.has(name)) this.#known.delete(name);
  }

  /**
   * Checks each file, reusing the verdict for content checked before under the same trust. A file
   * the scan did not keep the text of is read again; one that changed since is left for the next
   * pass (`changedWhileRead`).
   */
  #check(mount: MountFiles, trust: Trust, changedWhileRead: Set<string>): MountEntry[] {
    this.#checks.useTrust([...trust.operatorKeys, "|", ...trust.signingKeys].join(","));
    const check = this.#options.checkFile ?? checkMountFile;
    const entries = mount.files.map((file): MountEntry => {
      if ("error" in file) {
        this.#checks.forget(file.name);
        return check(file, trust);
      }
      const cached = this.#checks.lookup(file.name, file.digest, file.text);
      if (cached) return cached;
      const read = file.text === undefined ? this.#readAgain(file, changedWhileRead) : file;
      if (read === undefined) return changedEntry(file.name);
      const entry = check(read, trust);
      this.#checks.store(entry, file.digest);
      return entry;
    });
    this.#checks.keepOnly(new Set(mount.files.map((file) => file.name)));
    return entries;
  }

  /** A valid entry with its JWT's text, read again from the mount (the scan did not keep it). */
  #withText(entry: MountEntry, mount: MountFiles, changedWhileRead: Set<string>): MountEntry {
    const file = mount.byName(entry.name);
    if (!entry.check.ok || file === undefined || "error" in file) return entry;
    const read = this.#readAgain(file, changedWhileRead);
    if (read === undefined) return changedEntry(entry.name);
    return { ...entry, check: { ...entry.check, jwt: read.text.trim() } };
  }

  /**
   * Reads a mounted file again, with its text.
   * @returns undefined when it no longer holds what the scan read (noted in `changedWhileRead`)
   */
  #readAgain(
    file: { name: string; digest: string },
    changedWhileRead: Set<string>,
  ): { name: string; digest: string; text: string } | undefined {
    // From the version the scan read (a kubelet volume's `..data`), not through the visible
    // links, which may dangle mid-swap: a newer version shows as a changed digest. Resolved once
    // a run: a trust change reads every file again.
    this.#readDir ??= mountSnapshot(this.#options.mountDir).dir;
    const read = readMountFile(this.#readDir, file.name, { files: this.#files });
    if (read && "text" in read && read.text !== undefined && read.digest === file.digest) {
      return { name: file.name, digest: read.digest, text: read.text };
    }
    changedWhileRead.add(file.name);
    return undefined;
  }
}

/** The entry of a file that changed while it was read: kept out of this run, like a rejection. */
function changedEntry(name: string): MountEntry {
  return { name, check: { ok: false, reason: CHANGED_WHILE_READ } };
}

/** The mount's files as the scan read them, found by name when a run needs one again. */
class MountFiles {
  readonly files: readonly MountFile[];
  #byName: Map<string, MountFile> | undefined;

  constructor(files: readonly MountFile[]) {
    this.files = files;
  }

  byName(name: string): MountFile | undefined {
    this.#byName ??= new Map(this.files.map((file) => [file.name, file]));
    return this.#byName.get(name);
  }

  /**
   * File name -> the digest of each valid entry's JWT (what a resolver copy must hold), for the
   * files `names` (default: all).
   */
  jwtDigests(entries: readonly MountEntry[], names?: readonly string[]): Map<string, string> {
    const wanted = names && new Set(names);
    const digests = new Map<string, string>();
    for (const { name, check, digest } of entries) {
      if (check.ok && digest !== undefined && (!wanted || wanted.has(name))) {
        digests.set(name, digest);
      }
    }
    return digests;
  }
}

/** How long a resolver copy caught mid-write is given before it is read again. */
const MID_WRITE_PAUSE_MS = 20;
