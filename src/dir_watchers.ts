/**
 * Non-recursive directory watchers, kept in step with the set of directories to watch.
 *
 * Deno's file watcher goes silent for good once the inode it watches is replaced, so each watched
 * directory's identity (device and inode) is remembered and the watcher is re-armed when it changes
 * (a directory deleted and recreated, a symlinked dir swapped). Every event only means "something
 * may have changed": it calls `onEvent`, and the pipeline decides from content.
 */

import type { Logger } from "./log.ts";

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

  /** Watches exactly `dirs`: starts new watchers, stops unwanted ones, re-arms replaced ones. */
  async sync(dirs: ReadonlySet<string>): Promise<void> {
    if (this.#closed) return;
    for (const [dir, watch] of this.#watches) {
      const identity = await identityOf(dir);
      if (!dirs.has(dir) || identity !== watch.identity) await this.#stop(dir, watch);
    }
    for (const dir of dirs) {
      if (this.#watches.has(dir)) continue;
      const identity = await identityOf(dir);
      if (identity === undefined) continue;
      this.#start(dir, identity);
    }
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

  #start(dir: string, identity: string): void {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dir, { recursive: false });
    } catch (error) {
      this.#log.warn(`cannot watch ${dir}; the periodic re-scan still covers it`, { error });
      return;
    }
    const loop = (async () => {
      try {
        for await (const _event of watcher) this.#onEvent();
      } catch (error) {
        this.#log.debug(`watcher on ${dir} ended`, { error });
      }
      // A watcher that ends by itself (its directory vanished) asks for a pass, which re-arms.
      if (!this.#closed && this.#watches.get(dir)?.watcher === watcher) this.#onEvent();
    })();
    this.#watches.set(dir, { watcher, identity, loop });
    this.#log.debug(`watching ${dir}`);
  }

  async #stop(dir: string, watch: Watch): Promise<void> {
    this.#watches.delete(dir);
    try {
      watch.watcher.close();
    } catch {
      // Already closed because its directory went away: nothing left to release.
    }
    await watch.loop;
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
