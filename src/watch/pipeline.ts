/**
 * The change pipeline: watch -> debounce -> scan -> decide -> act -> report.
 *
 * Every file event, and the periodic re-scan, only asks for a pass. A pass scans what each cause
 * covers, compares digests with what was last applied, mirrors JWTs, decides with the reload
 * policy, tests the config with `nats-server -t` when the config drives the action, then reloads
 * (SIGHUP, confirmed through `/varz`) or restarts nats-server. Passes never overlap; a change that
 * arrives during a pass causes one more pass after it.
 */

import { FileGuard } from "../shared/bounded_read.ts";
import type { ServerView } from "../config/server_view.ts";
import { Report } from "../report/report.ts";
import { errorMessage } from "../shared/errors.ts";
import { getMonitorJson } from "../shared/monitor.ts";
import { Debouncer } from "./debounce.ts";
import { DirWatchers } from "./dir_watchers.ts";
import { FileDigests } from "../shared/file_digests.ts";
import { type JwtChanges, JwtMirror, type MirrorOutcome } from "../mirror/mirror.ts";
import { type Logger, longField } from "../shared/log.ts";
import { type Cause, CAUSES, decideReload } from "./reload_policy.ts";
import { type Scan, scanAll } from "./scan.ts";
import { checkServerConfig, type ConfigCheck } from "../server/server_binary.ts";
import type { ServerProcess } from "../server/server_process.ts";
import type { Settings } from "../cli/settings.ts";
import type { Companion } from "../server/companion.ts";
import { pause } from "../shared/timing.ts";

/**
 * How long a pass waits after a commit (a kubelet `..data` swap, a rename into place): only for
 * the rest of the same burst (the swap's own events, kubelet's symlinks for new names).
 */
const COMMIT_MS = 5;
/** Longest a burst of events may postpone a pass. */
const MAX_WAIT_MS = 1000;
/** Longest a pass waits for a kubelet volume caught mid-update to settle. */
const SETTLE_MAX_MS = 1000;
/** The applied jwt digest while the mirror has something left to retry: matches no scan. */
const UNSETTLED = "unsettled";
/** How long a SIGHUP may take to show in `/varz` before it counts as rejected. */
const RELOAD_CONFIRM_MS = 2000;

export interface PipelineOptions {
  settings: Settings;
  log: Logger;
  /** Called after a pass mirrored JWT changes (the claims push and purge hook). */
  onJwtChanges?: (changes: JwtChanges) => void | Promise<void>;
  /** Called before removed accounts' JWT files are deleted (the live account delete). */
  beforeRemove?: (accounts: string[]) => Promise<void>;
  checkConfig?: (bin: string, confPath: string) => Promise<ConfigCheck>;
  /** Reads every watched file (default: a guard with `settings.maxFileBytes`, warning to `log`). */
  files?: FileGuard;
  /** Where passes, reloads and reaction times are reported (default: a report nobody reads). */
  report?: Report;
}

/** What one pass did, for the status and the log. */
interface PassRecord {
  causes: Cause[];
  did: string[];
}

export class ChangePipeline implements Companion {
  readonly #options: PipelineOptions;
  readonly #mirror: JwtMirror;
  readonly #applied = new Map<Cause, string>();
  readonly #debouncer: Debouncer;
  readonly #watchers: DirWatchers;
  readonly #mountDigests = new FileDigests(); // an unchanged mount's files are not opened
  readonly #files: FileGuard;
  readonly #report: Report;
  #configFiles: string[] = [];
  /** The server config as the last pass that could read it read it. */
  #config: ServerView | undefined;
  #configError: unknown;
  #rejectedConfig: string | undefined;
  #server: ServerProcess | undefined;
  #rescanTimer: ReturnType<typeof setInterval> | undefined;
  #settlingSince: number | undefined;
  /** The next pass compares the resolver dir with the mount even if the mount did not change. */
  #driftCheckWanted = false;

  constructor(options: PipelineOptions) {
    this.#options = options;
    const { settings, log } = options;
    const files = options.files ?? new FileGuard({ maxBytes: settings.maxFileBytes, log });
    this.#files = files;
    this.#report = options.report ?? Report.unread();
    this.#mirror = new JwtMirror({
      report: this.#report,
      mountDir: settings.jwtMountDir,
      resolverDir: settings.jwtDir,
      log,
      ...(settings.removeMax !== undefined ? { removeMax: settings.removeMax } : {}),
      files,
      ...(options.beforeRemove ? { beforeRemove: options.beforeRemove } : {}),
    });
    this.#debouncer = new Debouncer((firstTriggerAt) => this.#pass(firstTriggerAt), {
      debounceMs: settings.debounceMs,
      maxWaitMs: Math.max(MAX_WAIT_MS, settings.debounceMs),
      commitMs: Math.min(COMMIT_MS, settings.debounceMs),
      onError: (error) => log.error(`change pass failed: ${(error as Error).message}`),
    });
    this.#watchers = new DirWatchers((kind) => this.#debouncer.trigger(kind), log, {
      onFifo: (path, info) => files.report(path, info),
    });
  }

  /**
   * The server config as the last pass that could read it read it (what the admin jobs go by
   * between passes).
   * @throws when no pass has read it yet, with the reason it could not
   */
  serverView(): ServerView {
    if (this.#config) return this.#config;
    throw new Error(
      `the server config could not be read: ${errorMessage(this.#configError ?? "not read yet")}`,
    );
  }

  /** Mirrors the mount and records the state nats-server is about to start with. */
  async beforeStart(): Promise<void> {
    const scan = await this.#scan();
    for (const cause of CAUSES) if (cause !== "jwt") this.#markApplied(cause, scan);
    try {
      const outcome = await this.#mirror.apply(scan.mountFiles, configOf(scan));
      this.#markMirrored(outcome, scan);
    } catch (error) {
      this.#options.log.error(`JWT mirror before start failed: ${(error as Error).message}`);
    }
  }

  /** Starts watching once nats-server runs. */
  start(server: ServerProcess): void {
    this.#server = server;
    const { settings, log } = this.#options;
    if (settings.rescanSeconds > 0) {
      this.#rescanTimer = setInterval(
        () => this.requestDriftCheck(),
        settings.rescanSeconds * 1000,
      );
    }
    // A change between beforeStart and now is caught by this first pass.
    this.#debouncer.trigger("check");
    log.info("watching for changes", {
      mode: settings.mode,
      debounce_ms: settings.debounceMs,
      rescan_s: settings.rescanSeconds,
    });
  }

  /**
   * Asks for a pass that compares the resolver dir with the mount even if the mount did not change
   * (the periodic re-scan, and a purge run that found mounted accounts missing from the resolver).
   */
  requestDriftCheck(): void {
    this.#driftCheckWanted = true;
    this.#debouncer.trigger("check");
  }

  async close(): Promise<void> {
    if (this.#rescanTimer !== undefined) clearInterval(this.#rescanTimer);
    await this.#debouncer.close();
    await this.#watchers.close();
  }

  async #scan(): Promise<Scan> {
    const files = this.#files;
    files.sweep();
    // Before reading: a directory that changes from now on shows in the directory check.
    this.#watchers.recordDirStates();
    const scan = await scanAll(this.#options.settings, this.#configFiles, {
      files,
      keepMountText: (name, digest) => this.#mirror.needsText(name, digest),
      mountDigests: this.#mountDigests,
    });
    this.#configFiles = scan.configFiles;
    if (scan.config) this.#config = scan.config;
    else this.#configError = scan.configError;
    const started = this.#watchers.sync(scan.watchDirs, {
      knownRegular: (path) => files.readAsRegular(path),
    });
    files.forgetRegular();
    // A file written into a newly watched directory between the scan and the arming raised no
    // event: one more (cheap, content-compared) pass covers it.
    if (started > 0) this.#debouncer.trigger("check");
    return scan;
  }

  #markApplied(cause: Cause, scan: Scan): void {
    this.#applied.set(cause, scan.digests.get(cause) ?? "");
  }

  /**
   * The jwt digest counts as applied only once the mirror left nothing to retry; until then it is
   * marked unsettled, so every pass mirrors again, even one whose mount went back to the content
   * last applied (a removed expired file must leave the rejected list too).
   */
  #markMirrored(outcome: MirrorOutcome, scan: Scan): void {
    if (mirrorSettled(outcome)) this.#markApplied("jwt", scan);
    else this.#applied.set("jwt", UNSETTLED);
  }

  /** One pass, reported: what it found and did, how long it took. */
  async #pass(firstTriggerAt: number): Promise<void> {
    const server = this.#server;
    if (!server || server.stopping) return;
    const started = performance.now();
    const record: PassRecord = { causes: [], did: [] };
    try {
      await this.#passBody(server, firstTriggerAt, record);
    } finally {
      const ms = Math.round(performance.now() - started);
      const { metrics, status } = this.#report;
      metrics.lastPassTimestamp.set(Date.now() / 1000);
      status.passDone({ at: new Date().toISOString(), ms, causes: record.causes, did: record.did });
    }
  }

  async #passBody(server: ServerProcess, firstTriggerAt: number, record: PassRecord) {
    const { settings, log } = this.#options;
    const started = performance.now();
    const scan = await this.#scan();
    const unopened = this.#mountDigests.lastReused;
    log.debug("change pass: scanned", { ms: Math.round(performance.now() - started), unopened });
    if (this.#stillSettling(scan)) return record.did.push("waited for a volume mid-update");
    const changed = new Set(CAUSES.filter((c) => scan.digests.get(c) !== this.#applied.get(c)));
    const driftCheck = this.#driftCheckWanted;
    this.#driftCheckWanted = false;
    record.causes = [...changed];
    for (const cause of changed) this.#report.metrics.changesDetected.inc({ cause });
    if (changed.size === 0 && !driftCheck) {
      log.debug("change pass: no content changed");
      return record.did.push("nothing changed");
    }
    if (changed.size > 0) log.info("change detected", { causes: [...changed].join(",") });

    let jwtChanges: JwtChanges | undefined;
    if (changed.has("jwt") || driftCheck) {
      // A drift check compares the whole resolver dir with the mount; others read what they write.
      jwtChanges = await this.#mirrorJwts(scan, firstTriggerAt, driftCheck);
      log.debug("change pass: mirrored", { ms: Math.round(performance.now() - started) });
      record.did.push(describeMirror(jwtChanges, driftCheck));
      if (!hasEffect(jwtChanges)) changed.delete("jwt");
    }
    if (changed.size === 0) return await this.#reportJwtChanges(jwtChanges);

    const decision = decideReload(settings.mode, changed);
    const applied = [...changed].filter((cause) => cause !== "jwt");
    if (decision.testConfig && !(await this.#configAccepted(scan, changed))) {
      // The server keeps its previous config; nothing but the JWT mirror is applied.
      for (const cause of applied) {
        this.#report.metrics.reloads.inc({ cause, result: "invalid_config" });
      }
      record.did.push("config invalid: not applied");
      return await this.#reportJwtChanges(jwtChanges);
    }
    if (decision.action === "reload") {
      const result = await this.#reload([...changed]);
      for (const cause of applied) this.#report.metrics.reloads.inc({ cause, result });
      record.did.push(result === "ok" ? "reloaded (SIGHUP)" : "SIGHUP not confirmed");
    }
    if (decision.action === "restart") {
      log.info("restarting nats-server to apply the change", { causes: [...changed].join(",") });
      await server.restart();
      record.did.push("restarted nats-server");
    }
    for (const cause of applied) {
      this.#markApplied(cause, scan);
      if (decision.action !== "none") {
        this.#report.metrics.reactionSeconds.observe(
          { cause },
          (Date.now() - firstTriggerAt) / 1000,
        );
      }
    }
    if (decision.action === "none" && changed.size > 0) {
      const why = changed.size === 1 && changed.has("jwt")
        ? "JWT changes are applied by the claims push"
        : "not in this mode";
      log.info(`no reload needed: ${why}`, { causes: [...changed].join(",") });
    }
    await this.#reportJwtChanges(jwtChanges);
  }

  /**
   * True when a kubelet volume is mid-update and the pass should wait for it (another pass is
   * asked for); never for more than SETTLE_MAX_MS, so a volume that never settles still applies.
   */
  #stillSettling(scan: Scan): boolean {
    const { log } = this.#options;
    if (scan.settling.length === 0) {
      this.#settlingSince = undefined;
      return false;
    }
    this.#settlingSince ??= Date.now();
    if (Date.now() - this.#settlingSince < SETTLE_MAX_MS) {
      log.debug("a volume is mid-update; waiting for it to settle", { dirs: scan.settling.join() });
      // Kubelet is creating the symlinks of new names after a swap: nothing is half-written.
      this.#debouncer.trigger("commit");
      return true;
    }
    const dirs = scan.settling.join();
    log.warn(`a volume has not settled within ${SETTLE_MAX_MS} ms; applying what is there`, {
      dirs,
    });
    this.#settlingSince = undefined;
    return false;
  }

  /** Mirrors; the jwt digest counts as applied only once nothing is left to retry. */
  async #mirrorJwts(scan: Scan, detectedAt: number, readAll: boolean) {
    try {
      const options = { detectedAt, readAll }; // readAll: a drift check reads the resolver dir whole
      const outcome = await this.#mirror.apply(scan.mountFiles, configOf(scan), options);
      this.#markMirrored(outcome, scan);
      return outcome.changes;
    } catch (error) {
      this.#options.log.error(`JWT mirror failed: ${(error as Error).message}`, {
        hint: "fix the server config; the mirror is retried on the next change or re-scan",
      });
      return undefined;
    }
  }

  /**
   * Tests the config; a rejected config is logged once per content, with nats-server's words.
   * The content is every file nats-server reads at start (the config, the accounts file, TLS and
   * creds): a fixed CA file is tested again even when the config itself did not change.
   */
  async #configAccepted(scan: Scan, changed: ReadonlySet<Cause>): Promise<boolean> {
    const { settings, log } = this.#options;
    const key = CAUSES.filter((cause) => cause !== "jwt")
      .map((cause) => scan.digests.get(cause)).join(":");
    if (key === this.#rejectedConfig) return false;
    if (scan.rejectedConfig.length > 0) {
      // nats-server would block on a FIFO or read a huge file just the same: never test or apply.
      this.#rejectedConfig = key;
      log.error("the changed config is not applied: a file of it was not read (see above)", {
        files: scan.rejectedConfig.join(","),
      });
      return false;
    }
    const check = this.#options.checkConfig ?? checkServerConfig;
    const result = await check(settings.serverBin, settings.confPath);
    if (result.ok) {
      this.#rejectedConfig = undefined;
      return true;
    }
    this.#rejectedConfig = key;
    log.error("the changed config is invalid; not applied, nats-server keeps the previous one", {
      causes: [...changed].join(","),
      conf: settings.confPath,
      // An operator needs nats-server's words whole to fix the config: a message's bound, not a field's.
      nats_server: longField(result.output),
    });
    return false;
  }

  /**
   * SIGHUP, confirmed by `/varz` `config_load_time` changing when the monitor port is on.
   * @returns "ok" (confirmed, or sent without a monitor to confirm it), else "rejected"
   */
  async #reload(causes: Cause[]): Promise<"ok" | "rejected"> {
    const { settings, log } = this.#options;
    const port = settings.monitorPort;
    const before = port === 0 ? undefined : await configLoadTime(port);
    if (!this.#server?.signal("SIGHUP")) return "rejected";
    if (before === undefined) {
      log.info("sent SIGHUP to nats-server", { causes: causes.join(",") });
      return "ok";
    }
    const deadline = Date.now() + RELOAD_CONFIRM_MS;
    while (Date.now() < deadline) {
      const now = await configLoadTime(port);
      if (now !== undefined && now !== before) {
        log.info("nats-server reloaded its configuration", { causes: causes.join(",") });
        return "ok";
      }
      await pause(5);
    }
    log.error("nats-server did not confirm the reload; it keeps its previous configuration", {
      causes: causes.join(","),
      hint: "see nats-server's own log lines above for the reason",
    });
    return "rejected";
  }

  async #reportJwtChanges(changes: JwtChanges | undefined): Promise<void> {
    if (!changes || !this.#options.onJwtChanges || !hasEffect(changes)) return;
    await this.#options.onJwtChanges(changes);
  }
}

/**
 * The config this scan read, for the mirror.
 * @throws why it could not be read (the mirror reports it)
 */
function configOf(scan: Scan): ServerView {
  if (scan.config) return scan.config;
  throw scan.configError;
}

/** What a mirror run did, in a few words for `/status`. */
function describeMirror(changes: JwtChanges | undefined, driftCheck: boolean): string {
  if (!changes) return "JWT mirror failed";
  const { added, changed, removed, repaired } = changes;
  if (!hasEffect(changes)) return driftCheck ? "resolver dir checked: in step" : "JWTs unchanged";
  const parts = [`+${added.length} ~${changed.length} -${removed.length}`];
  if (repaired.length > 0) parts.push(`${repaired.length} repaired`);
  return `JWTs mirrored: ${parts.join(", ")}`;
}

/** True when a mirror run wrote or removed something. */
function hasEffect(changes: JwtChanges | undefined): changes is JwtChanges {
  return changes !== undefined &&
    changes.added.length + changes.changed.length + changes.removed.length > 0;
}

/**
 * True when a mirror left nothing to retry. A failed write, or a JWT refused only for its validity
 * window, keeps the mount "changed", so the next pass or re-scan looks again (a JWT whose `nbf` has
 * passed is then mirrored without any file changing).
 */
function mirrorSettled(outcome: MirrorOutcome): boolean {
  return outcome.failed === 0 && outcome.timeRejected === 0;
}

/** `/varz` `config_load_time`, or undefined when the monitor does not answer. */
async function configLoadTime(port: number): Promise<string | undefined> {
  try {
    const varz = await getMonitorJson<{ config_load_time?: string }>(port, "varz", {
      timeoutMs: 1000,
    });
    return varz.config_load_time;
  } catch {
    return undefined; // not up yet, or the monitor is bound elsewhere: the reload goes unconfirmed
  }
}
