/**
 * Which file events report a change that is complete as it arrives (a commit), so the pipeline can
 * act at once instead of waiting out the debounce for more writes.
 *
 * - In a kubelet volume everything is a commit: kubelet writes a new version into a hidden
 *   timestamped dir and publishes it with one rename of `..data`; the visible names are symlinks
 *   it creates or removes right after.
 * - Elsewhere, a rename is a commit when it moves a temporary file onto a name that now exists,
 *   and no other file is still being written in place. That is how atomic writers work (write
 *   `.name.tmp`, fsync, rename over `name`). A temporary file is one written since the last scan,
 *   or a hidden one (`.name`): the watcher may drop events under load (Deno keeps 16 per watcher),
 *   and a hidden name is never read as content, so moving it away removes nothing.
 * - Nothing else is: writes in place may go on, and a removal or a rename away may be the first
 *   half of a non-atomic replacement (`rm a.jwt; cp new a.jwt`), which must not look like a removed
 *   account for a moment.
 *
 * @module
 */

import { basename } from "node:path";

/** One file event as `Deno.watchFs` reports it (Deno gives a rename as `[to]`, then `[from, to]`). */
export interface FileEvent {
  kind: Deno.FsEvent["kind"];
  paths: string[];
}

/** Remembers the files written since the last scan, to tell commits from writes in progress. */
export class CommitTracker {
  /** Files created or written since the last scan: a rename of one of them publishes it. */
  readonly #written = new Set<string>();
  /** Of those, the ones not renamed away or removed since: maybe still being written. */
  readonly #inProgress = new Set<string>();
  readonly #exists: (path: string) => boolean;

  /** @param exists whether a path exists now, without following a symlink */
  constructor(exists: (path: string) => boolean) {
    this.#exists = exists;
  }

  /**
   * Notes the event.
   * @param kubeletVolume the event's directory is a kubelet volume (holds a `..data` symlink)
   * @returns true when the event is a commit
   */
  note(event: FileEvent, kubeletVolume: boolean): boolean {
    if (kubeletVolume) return true;
    const [first, second] = event.paths;
    switch (event.kind) {
      case "create":
      case "modify":
      case "access": // a close after writing
        for (const path of event.paths) {
          this.#written.add(path);
          this.#inProgress.add(path);
        }
        return false;
      case "remove":
        for (const path of event.paths) this.#inProgress.delete(path);
        return false;
      case "rename":
        if (first === undefined || second === undefined) {
          // `[to]` before its `[from, to]`, or a move into or out of the directory: not enough to
          // know the source was finished. The paired event, if any, decides.
          for (const path of event.paths) if (!this.#exists(path)) this.#inProgress.delete(path);
          return false;
        }
        this.#inProgress.delete(first);
        this.#inProgress.delete(second);
        return (this.#written.has(first) || isHidden(first)) && this.#exists(second) &&
          this.#inProgress.size === 0;
      default:
        return false;
    }
  }

  /** A scan is about to read everything: what was written so far is what it sees. */
  clear(): void {
    this.#written.clear();
    this.#inProgress.clear();
  }
}

function isHidden(path: string): boolean {
  return basename(path).startsWith(".");
}
