/**
 * The directory check: once a second, each watched directory itself is stat'ed (device, inode,
 * mtime, ctime; no listing, no file reads) and compared with what was recorded when the last scan
 * began. It backs up a file watcher that is blocked (see `watcher_thread.ts`), lossy (Deno keeps 16
 * events per watcher and drops the rest) or not armed yet: creating, removing or renaming an entry
 * changes its directory's mtime, so such a change is applied within a second plus the debounce.
 * An edit in place changes only the file; the watcher or the periodic re-scan catches that.
 *
 * A kubelet volume (a dir holding a `..data` symlink) is compared by what it shows instead: the
 * `..data` version and its visible names. Kubelet's own hidden entries (the next version's
 * timestamped dir, `..data_tmp`) move its mtime while kubelet is still writing the payload, and a
 * pass then would read every file for nothing and delay the swap's own pass by as long (measured:
 * up to one whole scan, 150 ms with 3,000 accounts, seconds with 100,000). The names are listed
 * only when the mtime moved.
 *
 * A directory changed within {@linkcode RACY_MS} of being recorded may change again within the
 * same tick of the file system clock without its mtime moving (git's "racily clean" index entries):
 * such a record is not trusted, and the next check asks for one more look.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { realTimers, type Timers } from "../shared/timing.ts";
import { mountSnapshot } from "../mirror/files.ts";

/** File times come from a coarse clock (one tick is 1 to 10 ms on Linux); this leaves a margin. */
export const RACY_MS = 100;

/** What the check compares: `dev:ino:mtime:ctime`, or "missing". */
export interface DirStamp {
  key: string;
  /** The directory changed so shortly before it was stamped that a change may hide in its mtime. */
  racy: boolean;
}

export interface DirPollOptions {
  /** Time between two checks, in ms. */
  intervalMs: number;
  /** Called after every check; `changed` is true when a directory changed since it was recorded. */
  onCheck: (changed: boolean) => void;
  timers?: Timers;
  /** Stats a directory (default: `Deno.statSync`). */
  stat?: (dir: string) => Deno.FileInfo | undefined;
  /**
   * What a kubelet volume shows (its `..data` version and visible names, as one string), or
   * undefined for a directory that is not one (default: {@linkcode kubeletViewOf}).
   */
  kubeletView?: (dir: string) => string | undefined;
}

export class DirPoll {
  readonly #options: DirPollOptions;
  readonly #timers: Timers;
  readonly #stat: (dir: string) => Deno.FileInfo | undefined;
  readonly #stamps = new Map<string, DirStamp>();
  readonly #kubeletView: (dir: string) => string | undefined;
  /** Per directory, the view last taken and the stat it was taken at. */
  readonly #views = new Map<string, { raw: string; view: string | undefined; racy: boolean }>();
  #timer: number | undefined;
  #closed = false;

  constructor(options: DirPollOptions) {
    this.#options = options;
    this.#timers = options.timers ?? realTimers;
    this.#stat = options.stat ?? statOrUndefined;
    this.#kubeletView = options.kubeletView ?? kubeletViewOf;
  }

  /**
   * Checks exactly `dirs` from now on: others are dropped; new ones are recorded as they are now,
   * which is after the scan read them, so the next check asks for one more look unless a pass
   * records them first. The first call starts the checks.
   */
  watch(dirs: Iterable<string>): void {
    const wanted = new Set(dirs);
    for (const dir of this.#stamps.keys()) {
      if (!wanted.has(dir)) {
        this.#stamps.delete(dir);
        this.#views.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (!this.#stamps.has(dir)) this.#stamps.set(dir, { ...this.#stampOf(dir), racy: true });
    }
    if (this.#timer === undefined && !this.#closed) this.#schedule();
  }

  /** Records every directory as it is now: call it before a scan reads them. */
  record(): void {
    for (const dir of this.#stamps.keys()) this.#stamps.set(dir, this.#stampOf(dir));
  }

  /** Stops the checks. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#timers.setTimeout(() => this.#check(), this.#options.intervalMs);
  }

  #check(): void {
    if (this.#closed) return;
    let changed = false;
    for (const [dir, recorded] of this.#stamps) {
      const now = this.#stampOf(dir);
      if (now.key !== recorded.key || recorded.racy) {
        changed = true;
        // Asked once per change: the pass this starts records again before it reads.
        this.#stamps.set(dir, now);
      }
    }
    this.#schedule();
    this.#options.onCheck(changed);
  }

  #stampOf(dir: string): DirStamp {
    const info = this.#stat(dir);
    if (info === undefined) {
      this.#views.delete(dir);
      return { key: "missing", racy: false };
    }
    const mtime = info.mtime?.getTime() ?? 0;
    const raw = `${info.dev}:${info.ino}:${mtime}:${info.ctime?.getTime() ?? 0}`;
    // A time far in the future (a skewed NFS server) is no reason to look again every second.
    const racy = Math.abs(this.#timers.now() - mtime) < RACY_MS;
    const view = this.#viewOf(dir, raw, racy);
    if (view === undefined) return { key: raw, racy };
    // The view's own raciness is the cache's: a listing taken in the mtime's tick is taken again.
    return { key: `${info.dev}:${info.ino}:${view}`, racy: false };
  }

  /** The kubelet view of `dir`, taken again only when its stat moved (or was racy). */
  #viewOf(dir: string, raw: string, racy: boolean): string | undefined {
    const known = this.#views.get(dir);
    if (known !== undefined && known.raw === raw && !known.racy) return known.view;
    const view = this.#kubeletView(dir);
    this.#views.set(dir, { raw, view, racy });
    return view;
  }
}

/**
 * What a kubelet volume shows: the `..data` target and a digest of the names not starting with
 * `..`; undefined when `dir` holds no `..data` symlink (or cannot be listed).
 */
export function kubeletViewOf(dir: string): string | undefined {
  // The same test of a kubelet volume as the mount reader's (a hostile ..data target is none).
  const { version } = mountSnapshot(dir);
  if (version === undefined) return undefined;
  try {
    const names: string[] = [];
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.name.startsWith("..")) names.push(entry.name);
    }
    const hash = createHash("sha256");
    for (const name of names.sort()) hash.update(`${name}\0`);
    return `${version}:${hash.digest("hex")}`;
  } catch {
    return undefined; // cannot be listed (gone meanwhile): compared by its stat, as any other dir
  }
}

function statOrUndefined(dir: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(dir);
  } catch {
    return undefined; // gone or unreadable: "missing" until it is back
  }
}
