/**
 * Digests of a directory's files remembered by identity, so that a pass over unchanged files
 * stats them and opens none.
 *
 * @module
 */

import { type FileIdentity, identityKey } from "./bounded_read.ts";

/**
 * File times come from a coarse clock (a few ms on Linux, 1 s on some network file systems, 2 s on
 * FAT; and Deno reports the ctime in whole seconds): a file written within this many ms of a read
 * may be written again without its times moving, so such an identity does not vouch for its
 * content (git's "racily clean" entries).
 */
export const RACY_IDENTITY_MS = 2500;

/**
 * Whether `identity`, seen at `now`, vouches for the content read with it: both times known and
 * older than {@linkcode RACY_IDENTITY_MS}.
 */
export function identitySettled(identity: FileIdentity, now = Date.now()): boolean {
  const { mtimeMs, ctimeMs } = identity;
  return mtimeMs > 0 && ctimeMs > 0 && now - mtimeMs >= RACY_IDENTITY_MS &&
    now - ctimeMs >= RACY_IDENTITY_MS;
}

/**
 * The digests of the files of one directory by name and identity (device, inode, size, mtime,
 * ctime), so that a pass over unchanged files stats them and opens none: the periodic re-scan of
 * 10,000 unchanged mounted files, and the drift check of as many resolver files, read every one of
 * them (~0.5 s of CPU every 30 s each here, 5 s with 100,000). Only a settled identity is kept
 * ({@linkcode identitySettled}): a file written within the clock's tick of being read is read
 * again. Any write changes the ctime, which no one can set back; a kubelet swap gives every file a
 * new inode, so it reads all of them anyway.
 */
export class FileDigests {
  #known = new Map<string, { key: string; digest: string }>();
  #seen = new Map<string, { key: string; digest: string }>();
  #reused = 0;
  readonly #now: () => number;
  /** Files of the last finished pass whose digest was reused without opening them. */
  lastReused = 0;

  /** @param now the clock an identity's age is measured by */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The identity key and digest last read as `name`, if still to be trusted. */
  get(name: string): { key: string; digest: string } | undefined {
    return this.#known.get(name);
  }

  /** Notes what was found as `name` this pass; `reused`: without opening it. */
  note(name: string, identity: FileIdentity, digest: string, reused = false): void {
    if (reused) this.#reused++;
    if (identitySettled(identity, this.#now())) {
      this.#seen.set(name, { key: identityKey(identity), digest });
    }
  }

  /** Ends a pass: what was not seen in it is forgotten. */
  endPass(): void {
    this.#known = this.#seen;
    this.#seen = new Map();
    this.lastReused = this.#reused;
    this.#reused = 0;
  }
}
