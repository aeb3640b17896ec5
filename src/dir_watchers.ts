/**
 * Non-recursive directory watchers, kept in step with the set of directories to watch.
 *
 * Deno's file watcher goes silent for good once the inode it watches is replaced, so each watched
 * directory's identity (device and inode) is remembered and the watcher is re-armed when it changes
 * (a directory deleted and recreated, a symlinked dir swapped). Every event only means "something
 * may have changed": it calls `onEvent`, and the pipeline decides from content.
 */

import { basename } from "node:path";
import { type Logger, show } from "./log.ts";

interface Watch {
  watcher: Deno.FsWatcher;
  identity: string;
  loop: Promise<void>;
}

export class DirWatchers implements AsyncDisposable {
  readonly #watches = new Map<string, Watch>();
  readonly #onEvent: () => void;
  readonly #log: Logger;
  #closed = false;

  constructor(onEvent: () => void, log: Logger) {
    this.#onEvent = onEvent;
    this.#log = log;
  }

  /**
   * Watches exactly `dirs`: starts new watchers, stops unwanted ones, re-arms replaced ones.
   * @returns how many watchers were started (a caller that read contents before arming them should
   *   look again: a file written in between raised no event).
   */
  async sync(dirs: ReadonlySet<string>): Promise<number> {
    if (this.#closed) return 0;
    let started = 0;
    for (const [dir, watch] of this.#watches) {
      const identity = await identityOf(dir);
      if (!dirs.has(dir) || identity !== watch.identity) await this.#stop(dir, watch);
    }
    for (const dir of dirs) {
      if (this.#watches.has(dir)) continue;
      const identity = await identityOf(dir);
      if (identity === undefined) continue;
      if (this.#start(dir, identity)) started++;
    }
    return started;
  }

  /** The directories watched now (for tests and logs). */
  get watched(): string[] {
    return [...this.#watches.keys()].sort();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [dir, watch] of this.#watches) await this.#stop(dir, watch);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #start(dir: string, identity: string): boolean {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dir, { recursive: false });
    } catch (error) {
      this.#log.warn(`cannot watch ${show(dir)}; the periodic re-scan still covers it`, { error });
      return false;
    }
    const loop = (async () => {
      try {
        for await (const event of watcher) {
          // The directory itself went away: this watcher is dead from now on, even if a new
          // directory soon gets the same inode number (ext4 reuses them at once). Drop it so
          // the next sync arms a fresh one.
          if (event.kind === "remove" && event.paths.includes(dir)) {
            if (this.#watches.get(dir)?.watcher === watcher) this.#watches.delete(dir);
            closeQuietly(watcher);
          }
          if (event.paths.some(isMeaningful)) this.#onEvent();
        }
      } catch (error) {
        this.#log.debug(`watcher on ${show(dir)} ended`, { error });
      }
      // A watcher that ends by itself (its directory vanished) asks for a pass, which re-arms.
      if (!this.#closed && this.#watches.get(dir)?.watcher === watcher) this.#onEvent();
    })();
    this.#watches.set(dir, { watcher, identity, loop });
    this.#log.debug(`watching ${show(dir)}`);
    return true;
  }

  async #stop(dir: string, watch: Watch): Promise<void> {
    this.#watches.delete(dir);
    closeQuietly(watch.watcher);
    await watch.loop;
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
  return !name.startsWith("..") || name === "..data";
}

function closeQuietly(watcher: Deno.FsWatcher): void {
  try {
    watcher.close();
  } catch {
    // Already closed (its directory went away, or it was dropped earlier): nothing to release.
  }
}

async function identityOf(dir: string): Promise<string | undefined> {
  try {
    const info = await Deno.stat(dir);
    return info.isDirectory ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined; // gone or unreadable: not watchable now; its ancestor is watched instead
  }
}
