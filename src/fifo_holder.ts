/**
 * Holds every FIFO in the watched directories open for writing, so that Deno's file watcher thread,
 * which opens the path of every event (see `watcher_thread.ts`), never waits in `open()` for a
 * writer: with a writer present, opening a FIFO for reading returns at once. Holding one also
 * releases a watcher thread that is already waiting on it. Nothing is ever read from or written to
 * a held FIFO.
 *
 * A FIFO is opened read-only and non-blocking first, checked to be a FIFO with `fstat`, and only
 * then reopened for writing through `/proc/self/fd`, so nothing but that very FIFO is ever opened
 * for writing, even if the path is swapped in between. On Linux, opening a FIFO for reading and
 * writing never blocks.
 *
 * A FIFO is held as long as it is there (same device and inode) and its directory is watched.
 * Closing it earlier would itself be an event on a FIFO without a writer (`IN_CLOSE_WRITE`): the
 * watcher thread would open it and block.
 *
 * @module
 */

import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "./log.ts";

const { O_RDONLY, O_RDWR, O_NONBLOCK } = constants;

/** Each held FIFO costs a file descriptor; a directory of thousands is an attack, not a config. */
const DEFAULT_MAX_HELD = 256;

export interface FifoHolderOptions {
  log: Logger;
  /** Called when a FIFO starts being held (the file guard warns once per path and identity). */
  onFifo?: (path: string, info: Deno.FileInfo) => void;
  /** Most FIFOs held at once (default 256). */
  maxHeld?: number;
}

export interface HoldOptions {
  /**
   * True for a path just read as a regular file: a symlink there need not be followed again (in
   * a kubelet volume every visible name is a symlink, 10,000 of them in a big mount).
   */
  knownRegular?: (path: string) => boolean;
}

interface Held {
  fd: number;
  dir: string;
  /** `dev:ino` of the FIFO. */
  identity: string;
}

export class FifoHolder {
  readonly #options: FifoHolderOptions;
  readonly #held = new Map<string, Held>();
  /** Paths (with their identity) already logged as impossible to hold. */
  readonly #unholdable = new Map<string, string>();
  #warnedFull = false;

  constructor(options: FifoHolderOptions) {
    this.#options = options;
  }

  /** Paths of the FIFOs held now. */
  get held(): string[] {
    return [...this.#held.keys()].sort();
  }

  /**
   * Holds every FIFO (or symlink to one) directly in `dirs` that is not held yet. A FIFO replaced
   * by another at the same path is held anew before the old one is let go.
   */
  hold(dirs: Iterable<string>, options: HoldOptions = {}): void {
    for (const dir of new Set(dirs)) {
      for (const name of specialNames(dir)) {
        const path = join(dir, name.name);
        if (name.isSymlink && options.knownRegular?.(path)) continue;
        const info = statOrUndefined(path);
        if (!info?.isFifo) continue;
        const identity = `${info.dev}:${info.ino}`;
        const previous = this.#held.get(path);
        if (previous?.identity === identity) continue;
        if (!previous && this.#held.size >= (this.#options.maxHeld ?? DEFAULT_MAX_HELD)) {
          this.#warnFull(path);
          continue;
        }
        const fd = this.#open(path, identity);
        if (fd === undefined) continue;
        this.#held.set(path, { fd, dir, identity });
        if (previous) closeSync(previous.fd);
        this.#options.onFifo?.(path, info);
      }
    }
  }

  /**
   * Lets go of the FIFOs that are gone or replaced, and of those in directories not in
   * `watchedDirs`: call it only once the watchers of those directories are closed.
   */
  release(watchedDirs: ReadonlySet<string>): void {
    for (const [path, held] of this.#held) {
      const info = watchedDirs.has(held.dir) ? statOrUndefined(path) : undefined;
      if (info?.isFifo && `${info.dev}:${info.ino}` === held.identity) continue;
      this.#held.delete(path);
      closeSync(held.fd);
    }
  }

  /** Lets go of every FIFO (at shutdown, after the watchers). */
  close(): void {
    for (const held of this.#held.values()) closeSync(held.fd);
    this.#held.clear();
  }

  /** Opens the FIFO at `path` for writing, or logs (once) why it cannot. */
  #open(path: string, identity: string): number | undefined {
    let reader: number | undefined;
    try {
      reader = openSync(path, O_RDONLY | O_NONBLOCK);
      const stats = fstatSync(reader);
      if (!stats.isFIFO() || `${stats.dev}:${stats.ino}` !== identity) return undefined; // swapped
      return openSync(`/proc/self/fd/${reader}`, O_RDWR | O_NONBLOCK);
    } catch (error) {
      if (this.#unholdable.get(path) !== identity) {
        this.#unholdable.set(path, identity);
        this.#options.log.warn(`cannot hold the FIFO ${path} open: ${(error as Error).message}`, {
          hint: "remove it: while nothing writes to it, any change of it can stall the file " +
            "watcher; the directory check every second still applies changes",
        });
      }
      return undefined;
    } finally {
      if (reader !== undefined) closeSync(reader);
    }
  }

  #warnFull(path: string): void {
    if (this.#warnedFull) return;
    this.#warnedFull = true;
    this.#options.log.warn(
      `more than ${this.#options.maxHeld ?? DEFAULT_MAX_HELD} FIFOs in watched directories; ` +
        `not holding ${path} and any further ones open`,
      { hint: "remove them: a change of one can stall the file watcher" },
    );
  }
}

/** Names in `dir` that are neither regular files nor directories (FIFOs, symlinks, sockets...). */
function specialNames(dir: string): Deno.DirEntry[] {
  const names: Deno.DirEntry[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isFile && !entry.isDirectory) names.push(entry);
    }
  } catch (error) {
    // Gone or replaced by a file since the scan: the next pass sees it.
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw error;
    }
  }
  return names;
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined; // gone, a dangling link, or not ours to stat: nothing to hold
  }
}
