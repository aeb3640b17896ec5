/**
 * Non-recursive directory watchers, kept in step with the set of directories to watch, and kept
 * working when a watched directory holds something hostile.
 *
 * - Deno's file watcher goes silent for good once the inode it watches is replaced, so each
 *   watched directory's identity (device and inode) is remembered and the watcher is re-armed when
 *   it changes (a directory deleted and recreated, a symlinked dir swapped).
 * - Deno's one watcher thread opens the path of every event, so an event on a FIFO blocks it, and
 *   `Deno.watchFs()` or `FsWatcher.close()` called meanwhile waits for it forever (see
 *   `watcher_thread.ts`). So every FIFO in a watched directory is held open for writing
 *   (`fifo_holder.ts`) before anything else, and watchers are armed or closed only while the
 *   thread is free; what had to wait is done by a later sync or check.
 * - Once a second each watched directory itself is checked (`dir_poll.ts`), which backs up a
 *   watcher that is blocked, lossy or not armed yet.
 *
 * Every event and every changed directory only means "something may have changed": it calls
 * `onEvent`, and the pipeline decides from content. An event is marked committed when the change
 * it reports is complete as it arrives (see `commits.ts`), so the pipeline need not wait for more writes.
 */

import { basename, join } from "node:path";
import { CommitTracker } from "./commits.ts";
import type { TriggerKind } from "./debounce.ts";
import { realTimers, type Timers } from "../shared/timing.ts";
import { DirPoll } from "./dir_poll.ts";
import { FifoHolder, type HoldOptions } from "./fifo_holder.ts";
import { type Logger, show } from "../shared/log.ts";
import {
  watcherThreadFree,
  type WatcherThreadState,
  watcherThreadState,
} from "./watcher_thread.ts";
import { KUBELET_DATA } from "../mirror/files.ts";

/** How often the watched directories themselves are checked. */
const DIR_CHECK_MS = 1000;
/**
 * How soon arming is tried again when the watcher thread was busy (starting, or handling events),
 * and how often, before it is left to the directory check: a directory left unwatched that long
 * would take a commit through the debounce.
 */
const ARM_RETRY_MS = 5;
const ARM_RETRIES = 20;

interface Watch {
  watcher: Deno.FsWatcher;
  identity: string;
  /** The directory is a kubelet volume (it holds a `..data` symlink). */
  kubelet: boolean;
  /** Ends once the watcher is closed. */
  loop: Promise<void>;
}

export interface DirWatchersOptions {
  /** Called when a FIFO in a watched directory starts being held (the file guard warns). */
  onFifo?: (path: string, info: Deno.FileInfo) => void;
  /** Clock and timers of the directory check. */
  timers?: Timers;
  /** Where Deno's watcher thread is (default: asked of `/proc`). */
  threadState?: () => WatcherThreadState;
}

export class DirWatchers implements AsyncDisposable {
  readonly #watches = new Map<string, Watch>();
  /** Watchers to close once the watcher thread is free. */
  readonly #toClose: Watch[] = [];
  /** Directories whose replaced watcher is closing: re-armed once its loop has ended. */
  readonly #closing = new Set<string>();
  readonly #onEvent: (kind: TriggerKind) => void;
  readonly #log: Logger;
  readonly #fifos: FifoHolder;
  readonly #poll: DirPoll;
  readonly #threadState: () => WatcherThreadState;
  #wanted: ReadonlySet<string> = new Set();
  #holdOptions: HoldOptions = {};
  /** Directory checks in a row that found the watcher thread blocked on a FIFO. */
  #blockedChecks = 0;
  #closed = false;
  readonly #timers: Timers;
  #armRetry: number | undefined;
  #armRetries = 0;
  readonly #commits = new CommitTracker(existsNoFollow);

  /**
   * @param onEvent called for every event that may mean a change: a `commit` or a `write` for a
   *   watcher's event (see `commits.ts`), a `check` for the directory check and re-armed watchers
   */
  constructor(
    onEvent: (kind: TriggerKind) => void,
    log: Logger,
    options: DirWatchersOptions = {},
  ) {
    this.#onEvent = onEvent;
    this.#log = log;
    this.#threadState = options.threadState ?? (() => watcherThreadState());
    this.#fifos = new FifoHolder({ log, ...(options.onFifo ? { onFifo: options.onFifo } : {}) });
    this.#timers = options.timers ?? realTimers;
    this.#poll = new DirPoll({
      intervalMs: DIR_CHECK_MS,
      onCheck: (changed) => this.#onCheck(changed),
      ...(options.timers ? { timers: options.timers } : {}),
    });
  }

  /**
   * Watches exactly `dirs`: holds their FIFOs, then (while Deno's watcher thread is free) starts
   * new watchers, stops unwanted ones and re-arms replaced ones.
   * @returns how many watchers were started (a caller that read contents before arming them should
   *   look again: a file written in between raised no event).
   */
  sync(dirs: ReadonlySet<string>, options: HoldOptions = {}): number {
    if (this.#closed) return 0;
    this.#wanted = new Set(dirs);
    this.#holdOptions = options;
    this.#fifos.hold([...dirs, ...this.#watches.keys()], options);
    this.#poll.watch(dirs);
    const started = this.#arm();
    this.#armSoon();
    return started;
  }

  /** Records the watched directories as they are now: call it before a scan reads them. */
  recordDirStates(): void {
    this.#poll.record();
    this.#commits.clear();
  }

  /** The directories watched now (for tests). */
  get watched(): string[] {
    return [...this.#watches.keys()].sort();
  }

  /** The FIFOs held open now (for tests). */
  get heldFifos(): string[] {
    return this.#fifos.held;
  }

  /**
   * Stops the directory check and closes the watchers, unless the watcher thread is blocked: then
   * they are left to the process's exit, because closing one would wait for the thread forever.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#poll.close();
    if (this.#armRetry !== undefined) this.#timers.clearTimeout(this.#armRetry);
    const watches = [...this.#toClose.splice(0), ...this.#watches.values()];
    this.#watches.clear();
    if (!watcherThreadFree(this.#threadState())) {
      this.#log.debug("the file watcher thread is blocked; leaving its watchers to the exit");
      return;
    }
    for (const watch of watches) closeQuietly(watch.watcher);
    await Promise.all(watches.map((watch) => watch.loop));
    this.#fifos.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Starts, stops and re-arms watchers if the watcher thread is free.
   * @returns how many watchers were started
   */
  #arm(): number {
    if (!watcherThreadFree(this.#threadState())) return 0;
    for (const watch of this.#toClose.splice(0)) closeQuietly(watch.watcher);
    for (const [dir, watch] of this.#watches) {
      if (this.#wanted.has(dir) && identityOf(dir) === watch.identity) continue;
      this.#watches.delete(dir);
      closeQuietly(watch.watcher);
      if (this.#wanted.has(dir)) this.#rearmAfterClose(dir, watch);
    }
    // Only now, with the watchers of other directories closed: letting go of a FIFO is an event.
    this.#fifos.release(this.#wanted);
    let started = 0;
    for (const dir of this.#wanted) {
      if (this.#watches.has(dir) || this.#closing.has(dir)) continue;
      const identity = identityOf(dir);
      if (identity === undefined) continue;
      if (!watcherThreadFree(this.#threadState())) break;
      if (this.#start(dir, identity)) started++;
    }
    return started;
  }

  /**
   * Arms a replaced directory's new watcher only once the old one's loop has ended: a new
   * `Deno.watchFs()` on the same path while the old watcher is still closing keeps hearing the
   * old directory (a swapped symlink) and none of the new one. Then asks for a pass, because the
   * directory went unwatched for a moment.
   */
  #rearmAfterClose(dir: string, watch: Watch): void {
    this.#closing.add(dir);
    void watch.loop.then(() => {
      this.#closing.delete(dir);
      if (this.#closed) return;
      if (this.#arm() > 0) this.#onEvent("check");
    });
  }

  /** After each directory check: asks for a pass when something changed, arms what had to wait. */
  #onCheck(changed: boolean): void {
    if (this.#closed) return;
    const state = this.#threadState();
    this.#noteThreadState(state);
    let started = 0;
    if (watcherThreadFree(state) && this.#armingPending()) {
      this.#fifos.hold([...this.#wanted, ...this.#watches.keys()], this.#holdOptions);
      started = this.#arm();
    }
    if (changed || started > 0) this.#onEvent("check");
    this.#armSoon();
  }

  /**
   * Tries arming again in ARM_RETRY_MS while the watcher thread is only busy (not blocked on a
   * FIFO, which the directory check handles), at most ARM_RETRIES times in a row.
   */
  #armSoon(): void {
    if (this.#closed || this.#armRetry !== undefined) return;
    if (!this.#armingPending()) {
      this.#armRetries = 0;
      return;
    }
    if (this.#threadState() !== "busy" || this.#armRetries >= ARM_RETRIES) return;
    this.#armRetries++;
    this.#armRetry = this.#timers.setTimeout(() => {
      this.#armRetry = undefined;
      if (this.#closed) return;
      // A directory armed late may have changed unwatched: look again.
      if (this.#arm() > 0) this.#onEvent("check");
      this.#armSoon();
    }, ARM_RETRY_MS);
  }

  #armingPending(): boolean {
    if (this.#toClose.length > 0) return true;
    for (const dir of this.#wanted) {
      if (!this.#watches.has(dir) && !this.#closing.has(dir)) return true;
    }
    return this.#watches.size > this.#wanted.size;
  }

  /**
   * Says so when the watcher thread stays blocked on a FIFO across two checks (the holder could
   * not release it: the FIFO is gone, or not ours to open), and when it is free again.
   */
  #noteThreadState(state: WatcherThreadState): void {
    if (state !== "opening a FIFO") {
      if (this.#blockedChecks >= 2 && watcherThreadFree(state)) {
        this.#log.info("the file watcher thread is free again");
      }
      if (state !== "busy") this.#blockedChecks = 0;
      return;
    }
    if (++this.#blockedChecks !== 2) return;
    this.#log.warn(
      "the file watcher thread is blocked opening a FIFO that is gone or cannot be held open",
      {
        hint: "changes are still applied: new, removed and renamed files by the directory check " +
          "every second, edits in place by the POT_NATS_RESCAN_SECONDS re-scan; restart the pod " +
          "to get the watcher back",
      },
    );
  }

  #start(dir: string, identity: string): boolean {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dir, { recursive: false });
    } catch (error) {
      this.#log.warn(
        `cannot watch ${show(dir)}; the directory check and the re-scan still cover it`,
        { error },
      );
      return false;
    }
    const watch: Watch = {
      watcher,
      identity,
      kubelet: isKubeletVolume(dir),
      loop: Promise.resolve(),
    };
    watch.loop = (async () => {
      try {
        for await (const event of watcher) {
          // The directory itself went away: this watcher is dead from now on, even if a new
          // directory soon gets the same inode number (ext4 reuses them at once). Drop it so
          // the next sync arms a fresh one.
          if (event.kind === "remove" && event.paths.includes(dir)) {
            if (this.#watches.get(dir) === watch) this.#watches.delete(dir);
            this.#closeWhenFree(watch);
          }
          if (event.paths.some((path) => basename(path) === KUBELET_DATA)) watch.kubelet = true;
          const paths = event.paths.filter(isMeaningful);
          if (paths.length === 0) continue;
          const commit = this.#commits.note({ kind: event.kind, paths }, watch.kubelet);
          this.#onEvent(commit ? "commit" : "write");
        }
      } catch (error) {
        this.#log.debug(`watcher on ${show(dir)} ended`, { error });
      }
      // A watcher that ends by itself (its directory vanished) asks for a pass, which re-arms.
      if (!this.#closed && this.#watches.get(dir) === watch) {
        this.#watches.delete(dir);
        this.#onEvent("check");
      }
    })();
    this.#watches.set(dir, watch);
    this.#log.debug(`watching ${show(dir)}`);
    return true;
  }

  #closeWhenFree(watch: Watch): void {
    if (watcherThreadFree(this.#threadState())) closeQuietly(watch.watcher);
    else this.#toClose.push(watch);
  }
}

/**
 * False for kubelet's internal names (`..2026_11_22_…` timestamped dirs, `..data_tmp`): only the
 * `..data` swap and the visible names tell that content changed. Without this, the removal of the
 * old timestamped dir after a swap (10,000 files for a big mount) restarts the debounce and delays
 * every update by however long that removal takes.
 */
function isMeaningful(path: string): boolean {
  const name = basename(path);
  return !name.startsWith("..") || name === KUBELET_DATA;
}

function isKubeletVolume(dir: string): boolean {
  try {
    return Deno.lstatSync(join(dir, KUBELET_DATA)).isSymlink;
  } catch {
    return false; // no ..data (or none to see): its events are not commits by themselves
  }
}

function existsNoFollow(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(watcher: Deno.FsWatcher): void {
  try {
    watcher.close();
  } catch {
    // Already closed (its directory went away, or it was dropped earlier): nothing to release.
  }
}

function identityOf(dir: string): string | undefined {
  try {
    const info = Deno.statSync(dir);
    return info.isDirectory ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined; // gone or unreadable: not watchable now; its ancestor is watched instead
  }
}
