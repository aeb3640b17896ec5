/**
 * Reading a file from a watched path without trusting what it is. A watched directory may hold a
 * FIFO (opening one for reading blocks until a writer appears), a link to `/dev/zero` (reading it
 * never ends) or a file far larger than any config or JWT: read with `Deno.readTextFileSync`, each
 * of these froze the supervisor or exhausted its memory.
 *
 * So a read here stats the path first (following symlinks) and opens only a regular file of at
 * most `maxBytes`; opens it with `O_NONBLOCK`, so a path swapped for a FIFO between the stat and
 * the open cannot block; reads at most `maxBytes + 1` bytes, so nothing can make it read more; and
 * asks the open file what it is (`fstat`) whenever what it read disagrees with the stat.
 *
 * A {@linkcode FileGuard} adds a memory of rejected files: a file whose identity (device, inode,
 * size, mtime, ctime, as `stat` sees it through symlinks) has not changed is not opened again, and
 * its warning is logged once.
 *
 * @module
 */

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { type Logger, silentLogger } from "./log.ts";

/** The default of `POT_NATS_MAX_FILE_BYTES`: 1 MiB, 100 times the largest JWT or config seen. */
export const DEFAULT_MAX_FILE_BYTES = 1_048_576;

/** What a path is when it is not a regular file. */
export type SpecialKind =
  | "directory"
  | "FIFO"
  | "socket"
  | "character device"
  | "block device"
  | "file of unknown type";

/** What tells two versions of a file apart without reading them. Times are in ms. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** A file refused without being read (or read only up to `maxBytes + 1`). */
export type Rejection =
  | { status: "not regular"; kind: SpecialKind; identity: FileIdentity }
  | { status: "too large"; size: number; identity: FileIdentity };

/** The outcome of one bounded read. */
export type BoundedRead =
  | { status: "read"; bytes: Uint8Array; identity: FileIdentity }
  | { status: "missing" }
  | Rejection;

/** A regular file whose identity is the one the caller knew: not opened. */
export interface UnchangedRead {
  status: "unchanged";
  identity: FileIdentity;
}

/** Thrown by the text readers for a file that is not read; the message says what it is. */
export class FileRejectedError extends Error {
  override name = "FileRejectedError";
  readonly path: string;
  readonly rejection: Rejection;

  constructor(path: string, rejection: Rejection, maxBytes: number) {
    super(`${path}: ${rejectionReason(rejection, maxBytes)}`);
    this.path = path;
    this.rejection = rejection;
  }
}

const MISSING: BoundedRead = Object.freeze({ status: "missing" });
const { O_RDONLY, O_NONBLOCK } = constants;
/** Like `Deno.readTextFileSync`: invalid UTF-8 becomes U+FFFD and a byte order mark is kept. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Reads `path` (following symlinks) if it is a regular file of at most `maxBytes`.
 * @returns the bytes and the file's identity; or missing (also for a dangling link); or why it was
 *   not read
 * @throws the underlying error when the file exists but cannot be stat'ed, opened or read (for
 *   example permission denied)
 */
export function readBoundedSync(path: string, maxBytes: number): BoundedRead {
  const info = statOrUndefined(path);
  return info === undefined ? MISSING : readStatted(path, info, maxBytes);
}

/**
 * Like {@linkcode readBoundedSync}, as text.
 * @throws {Deno.errors.NotFound} when the path does not exist, {Deno.errors.IsADirectory} for a
 *   directory, {@linkcode FileRejectedError} for anything else that is not read
 */
export function readTextBoundedSync(path: string, maxBytes: number): string {
  return textOf(path, readBoundedSync(path, maxBytes), maxBytes);
}

/**
 * Like {@linkcode readBoundedSync}, as bytes.
 * @throws as {@linkcode readTextBoundedSync}
 */
export function readBytesBoundedSync(path: string, maxBytes: number): Uint8Array {
  return bytesOf(path, readBoundedSync(path, maxBytes), maxBytes);
}

/** Why a file was not read, for a log line: `a FIFO, not a regular file`. */
export function rejectionReason(rejection: Rejection, maxBytes: number): string {
  if (rejection.status === "too large") {
    return `${rejection.size} bytes, more than POT_NATS_MAX_FILE_BYTES (${maxBytes})`;
  }
  return `a ${rejection.kind}, not a regular file`;
}

/** One string for an identity, to compare or to hash. */
export function identityKey(identity: FileIdentity): string {
  const { dev, ino, size, mtimeMs, ctimeMs } = identity;
  return `${dev}:${ino}:${size}:${mtimeMs}:${ctimeMs}`;
}

/** What a rejection is and which version of the file it is about, as one string. */
export function rejectionKey(rejection: Rejection): string {
  const what = rejection.status === "too large" ? "too large" : rejection.kind;
  return `${what} ${identityKey(rejection.identity)}`;
}

/** The identity `Deno.stat` reports. */
export function identityOf(info: Deno.FileInfo): FileIdentity {
  return {
    dev: info.dev,
    ino: info.ino ?? 0,
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    ctimeMs: info.ctime?.getTime() ?? 0,
  };
}

/** What a stat says a path is, when it is not a regular file. */
export function specialKindOf(info: Deno.FileInfo): SpecialKind {
  if (info.isDirectory) return "directory";
  if (info.isFifo) return "FIFO";
  if (info.isSocket) return "socket";
  if (info.isCharDevice) return "character device";
  if (info.isBlockDevice) return "block device";
  return "file of unknown type";
}

export interface FileGuardOptions {
  /** The largest file read, in bytes (`POT_NATS_MAX_FILE_BYTES`); default 1 MiB. */
  maxBytes?: number;
  /** Where the one warning per rejected path and identity goes. */
  log?: Logger;
}

interface Remembered {
  rejection: Rejection;
  key: string;
  /** Looked at since the last sweep. */
  seen: boolean;
}

/**
 * Bounded reads with a memory of rejected files, shared by everything that reads watched paths:
 * a rejected file is warned about once (directories, which callers skip anyway, are not warned
 * about) and, while its identity stays the same, never opened again.
 */
export class FileGuard {
  readonly maxBytes: number;
  readonly #log: Logger;
  readonly #rejected = new Map<string, Remembered>();
  /** Paths read as regular files since the last sweep. */
  readonly #regular = new Set<string>();

  constructor(options: FileGuardOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.#log = options.log ?? silentLogger;
  }

  /**
   * Reads `path` like {@linkcode readBoundedSync}, but returns a remembered rejection without
   * opening the file when its identity has not changed. `noteRegular: false` leaves a regular
   * file out of {@linkcode FileGuard.readAsRegular}: a file of no watched directory, whose path
   * would be held until the next sweep for nothing (10,000 paths are 2.7 MB).
   * @throws as {@linkcode readBoundedSync}
   */
  read(
    path: string,
    options: { noteRegular?: boolean; unchangedFrom: string | undefined },
  ): BoundedRead | UnchangedRead;
  read(path: string, options?: { noteRegular?: boolean }): BoundedRead;
  /**
   * `unchangedFrom`: the {@linkcode identityKey} of the version the caller read before; a regular
   * file with that identity is not opened (`unchanged`). Only a settled identity
   * ({@linkcode identitySettled}) may be passed: the caller's content is then the file's.
   */
  read(
    path: string,
    options: { noteRegular?: boolean; unchangedFrom?: string | undefined } = {},
  ): BoundedRead | UnchangedRead {
    const info = statOrUndefined(path);
    if (info === undefined) {
      this.#rejected.delete(path);
      return MISSING;
    }
    if (options.unchangedFrom !== undefined && info.isFile) {
      const identity = identityOf(info);
      if (identityKey(identity) === options.unchangedFrom) {
        if (options.noteRegular !== false) this.#regular.add(path);
        return { status: "unchanged", identity };
      }
    }
    const remembered = this.#rejected.get(path);
    if (remembered !== undefined && remembered.key === identityKey(identityOf(info))) {
      remembered.seen = true;
      return remembered.rejection;
    }
    const result = readStatted(path, info, this.maxBytes);
    if (result.status === "read") {
      this.#rejected.delete(path);
      if (options.noteRegular !== false) this.#regular.add(path);
    } else if (result.status === "missing") {
      this.#rejected.delete(path);
    } else {
      this.#remember(path, result);
    }
    return result;
  }

  /**
   * Reads `path` as text.
   * @throws {Deno.errors.NotFound} when the path does not exist, {Deno.errors.IsADirectory} for a
   *   directory, {@linkcode FileRejectedError} for anything else that is not read
   */
  readText(path: string): string {
    return textOf(path, this.read(path), this.maxBytes);
  }

  /**
   * Reads `path` as bytes.
   * @throws as {@linkcode FileGuard.readText}
   */
  readBytes(path: string): Uint8Array {
    return bytesOf(path, this.read(path), this.maxBytes);
  }

  /**
   * Notes a special file found without reading it (a FIFO in a watched directory): warned about
   * once per path and identity, like a rejected read.
   */
  report(path: string, info: Deno.FileInfo): void {
    const rejection: Rejection = {
      status: "not regular",
      kind: specialKindOf(info),
      identity: identityOf(info),
    };
    const remembered = this.#rejected.get(path);
    if (remembered?.key === identityKey(rejection.identity)) remembered.seen = true;
    else this.#remember(path, rejection);
  }

  /** True when `path` was read as a regular file since the last sweep (or `forgetRegular`). */
  readAsRegular(path: string): boolean {
    return this.#regular.has(path);
  }

  /**
   * Notes that `path` leads to a file just read as regular under another path (a kubelet volume's
   * visible link, whose version was read through `..data`), so it counts as read until the sweep.
   */
  noteReadAs(path: string, readPath: string): void {
    if (this.#regular.has(readPath)) this.#regular.add(path);
  }

  /**
   * Forgets which paths were read as regular files, once that has served (10,000 mounted files'
   * paths are 2.7 MB, held until the next pass for nothing); {@linkcode FileGuard.readAsRegular}
   * is false for every path until the next reads.
   */
  forgetRegular(): void {
    this.#regular.clear();
  }

  /**
   * Forgets rejected files not looked at since the previous sweep (so names that come and go
   * cannot grow the memory without bound) and which paths were read as regular files.
   */
  sweep(): void {
    for (const [path, remembered] of this.#rejected) {
      if (remembered.seen) remembered.seen = false;
      else this.#rejected.delete(path);
    }
    this.#regular.clear();
  }

  #remember(path: string, rejection: Rejection): void {
    this.#rejected.set(path, { rejection, key: identityKey(rejection.identity), seen: true });
    if (rejection.status === "not regular" && rejection.kind === "directory") return;
    this.#log.warn(`ignoring ${path}: ${rejectionReason(rejection, this.maxBytes)}`, {
      hint: rejection.status === "too large"
        ? "raise POT_NATS_MAX_FILE_BYTES or remove it"
        : "remove it; pot-nats reads only regular files",
    });
  }
}

/** Reads a path whose stat (following symlinks) is `info`. */
function readStatted(path: string, info: Deno.FileInfo, maxBytes: number): BoundedRead {
  const identity = identityOf(info);
  if (!info.isFile) return { status: "not regular", kind: specialKindOf(info), identity };
  if (info.size > maxBytes) return { status: "too large", size: info.size, identity };
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NONBLOCK);
  } catch (error) {
    if (hasCode(error, "ENOENT") || hasCode(error, "ENOTDIR")) return MISSING;
    // The path was swapped after the stat (ENXIO: a socket now): say what it is now.
    const now = statOrUndefined(path);
    if (now !== undefined && !now.isFile) {
      return { status: "not regular", kind: specialKindOf(now), identity: identityOf(now) };
    }
    throw error;
  }
  try {
    return readOpen(fd, info.size, maxBytes, identity);
  } finally {
    closeSync(fd);
  }
}

/** Reads an open file the stat said was a regular file of `expected` bytes. */
function readOpen(
  fd: number,
  expected: number,
  maxBytes: number,
  identity: FileIdentity,
): BoundedRead {
  // One byte more than expected: a full buffer means the file grew.
  let buffer = new Uint8Array(Math.min(expected, maxBytes) + 1);
  let length = 0;
  for (;;) {
    let count: number;
    try {
      count = readSync(fd, buffer, length, buffer.length - length, null);
    } catch (error) {
      // EAGAIN (a FIFO with a writer) or EISDIR: no longer what was stat'ed.
      const special = specialOpenFile(fd);
      if (special !== undefined) return special;
      throw error;
    }
    if (count === 0) break;
    length += count;
    // A local file system reads what is there: a short read of exactly the stat's size is the
    // end of the file, which saves a second read call per file (10,000 of them in a big mount).
    if (length === expected && length < buffer.length) break;
    if (length === buffer.length) {
      if (buffer.length > maxBytes) break;
      const grown = new Uint8Array(Math.min(buffer.length * 2, maxBytes + 1));
      grown.set(buffer);
      buffer = grown;
    }
  }
  if (length !== expected) {
    // The file changed between the stat and the read, or the path now names something else
    // (a device never ends, an empty FIFO reads nothing): ask the open file what it is.
    const special = specialOpenFile(fd);
    if (special !== undefined) return special;
  }
  if (length > maxBytes) {
    return { status: "too large", size: Math.max(length, fstatSync(fd).size), identity };
  }
  return { status: "read", bytes: buffer.subarray(0, length), identity };
}

/** The rejection for an open file that is not a regular file, or undefined for a regular one. */
function specialOpenFile(fd: number): Rejection | undefined {
  const stats = fstatSync(fd);
  if (stats.isFile()) return undefined;
  return { status: "not regular", kind: nodeSpecialKind(stats), identity: nodeIdentity(stats) };
}

function nodeSpecialKind(stats: Stats): SpecialKind {
  if (stats.isDirectory()) return "directory";
  if (stats.isFIFO()) return "FIFO";
  if (stats.isSocket()) return "socket";
  if (stats.isCharacterDevice()) return "character device";
  if (stats.isBlockDevice()) return "block device";
  return "file of unknown type";
}

function nodeIdentity(stats: Stats): FileIdentity {
  const { dev, ino, size, mtimeMs, ctimeMs } = stats;
  return { dev, ino, size, mtimeMs, ctimeMs };
}

function textOf(path: string, read: BoundedRead, maxBytes: number): string {
  return decoder.decode(bytesOf(path, read, maxBytes));
}

function bytesOf(path: string, read: BoundedRead, maxBytes: number): Uint8Array {
  switch (read.status) {
    case "read":
      return read.bytes;
    case "missing":
      throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
    default:
      if (read.status === "not regular" && read.kind === "directory") {
        throw new Deno.errors.IsADirectory(`${path} is a directory`);
      }
      throw new FileRejectedError(path, read, maxBytes);
  }
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/** Node's fs errors carry the errno name in `code` (Deno maps them to no class of its own). */
function hasCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as Error & { code?: unknown }).code === code;
}
