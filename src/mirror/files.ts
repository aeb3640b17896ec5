/**
 * The reading side of the JWT mirror: the mount (a kubelet volume is read from the version `..data`
 * points at) and the resolver dir, through the file guard; `writes.ts` carries plans out.
 *
 * The mount is usually a Kubernetes ConfigMap or Secret volume, whose visible files are symlinks
 * (`X.jwt -> ..data/X.jwt`, `..data -> ..<timestamp>`) that kubelet swaps atomically; reads follow them.
 *
 * @module
 */

import { join } from "node:path";
import { setImmediate } from "node:timers/promises";
import { checkAccountJwt, type Trust } from "../jwt/account_jwt.ts";
import { accountOfFileName, listJwtNames } from "../jwt/jwt_files.ts";
import {
  type BoundedRead,
  FileGuard,
  rejectionKey,
  rejectionReason,
  type UnchangedRead,
} from "../shared/bounded_read.ts";
import { contentDigest } from "../shared/digest.ts";
import { issuedAt, type MountEntry, type ResolverCopy } from "./plan.ts";
import type { FileDigests } from "../shared/file_digests.ts";
import { errorMessage } from "../shared/errors.ts";

/**
 * One mounted `*.jwt` file as read: the {@linkcode contentDigest} of its bytes and (unless the
 * reader was told it is not needed) its text; or why it could not be read. `rejected` is set for a
 * file the file guard refused (a FIFO, a device, too large) and has logged already: the rejection
 * and the file's identity, so that a change of it shows in a digest.
 */
export type MountFile =
  | { name: string; digest: string; text?: string }
  | { name: string; error: string; rejected?: string };

/** Where {@linkcode readMountFiles} and {@linkcode readResolverDir} read files. */
export interface ReadFilesOptions {
  /** Default: a guard of its own, with the default size cap. */
  files?: FileGuard;
}

/** Options of {@linkcode readMountFiles}. */
export interface ReadMountOptions extends ReadFilesOptions {
  /** Digests of files read in earlier passes: an unchanged file is not opened. */
  digests?: FileDigests;
  /**
   * Whether a file's text is kept (default: always). A pass over 10,000 unchanged files needs only
   * their digests: 1.8 MB for the pass instead of 10.5 MB with every text (measured).
   */
  keepText?: (name: string, digest: string) => boolean;
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A read of the mount: its files, and which kubelet version they are (see `mountSnapshot`). */
export interface MountRead {
  files: MountFile[] | undefined;
  /** The `..data` target read, for a kubelet volume; compare with a later `mountSnapshot`. */
  version?: string;
}

/** The symlink kubelet swaps to publish a new version of a ConfigMap or Secret volume. */
export const KUBELET_DATA = "..data";

/**
 * Where the mount's current content is: for a kubelet volume, the timestamped directory `..data`
 * points at. Kubelet publishes each version whole in a new directory and never changes it after,
 * so reading there is a consistent snapshot even while kubelet is still fixing the visible links
 * of a swap (new names missing, removed ones dangling). Anything else (no `..data`, or one that is
 * not a plain `..name` link, as a hostile mount could make) reads the mount dir itself.
 */
export function mountSnapshot(mountDir: string): { dir: string; version?: string } {
  let target: string;
  try {
    target = Deno.readLinkSync(join(mountDir, KUBELET_DATA));
  } catch {
    // No ..data link, or none readable: not a kubelet volume; the mount dir is read as it is.
    return { dir: mountDir };
  }
  if (!target.startsWith("..") || target.includes("/") || target.includes("\\")) {
    return { dir: mountDir };
  }
  return { dir: join(mountDir, target), version: target };
}

/**
 * Reads the mounted account JWT files (`*.jwt`, not starting with `.`), following symlinks and
 * skipping directories, from the mount's snapshot (see {@linkcode mountSnapshot}). A file that
 * cannot be read, or that the file guard refuses, is returned with its error, so the mirror keeps
 * its previous copy rather than removing it.
 *
 * @returns the files sorted by name (`undefined` when the mount dir does not exist), and the
 *   kubelet version read
 * @throws {Deno.errors.NotADirectory} and other errors of listing the mount dir itself
 */
export function readMount(mountDir: string, options: ReadMountOptions = {}): MountRead {
  return runSteps(mountReads(mountDir, options));
}

/**
 * Like {@linkcode readMount}, letting the event loop run every {@linkcode FILES_PER_TURN} files:
 * reading 100,000 files takes seconds here, and a read that never lets go holds up the health
 * endpoint (a liveness probe's timeout is 1 s by default), the NATS client's pings and the pushes.
 */
export function readMountLettingGo(
  mountDir: string,
  options: ReadMountOptions = {},
): Promise<MountRead> {
  return runStepsLettingGo(mountReads(mountDir, options));
}

/** Files a `...LettingGo` reader reads between two turns of the event loop. */
const FILES_PER_TURN = 500;

/** Runs a reader's steps (one file each) to its result. */
function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Runs a reader's steps, letting the event loop run every {@linkcode FILES_PER_TURN} of them. */
async function runStepsLettingGo<T>(steps: Generator<void, T>): Promise<T> {
  for (let count = 1;; count++) {
    const step = steps.next();
    if (step.done) return step.value;
    if (count % FILES_PER_TURN === 0) await setImmediate();
  }
}

/** {@linkcode readMount}'s work, one file a step. */
function* mountReads(mountDir: string, options: ReadMountOptions): Generator<void, MountRead> {
  const snapshot = mountSnapshot(mountDir);
  let read = yield* jwtFileReads(snapshot.dir, options);
  // The visible links lead to the files just read: the FIFO holder need not look at them again.
  if (read !== undefined && snapshot.dir !== mountDir && options.files) {
    for (const { name } of read) {
      options.files.noteReadAs(join(mountDir, name), join(snapshot.dir, name));
    }
  }
  // The snapshot's directory went away before it could be listed (a newer swap removed it):
  // read what the mount shows now; the caller sees the version change.
  if (read === undefined && snapshot.dir !== mountDir) {
    read = yield* jwtFileReads(mountDir, options);
  }
  options.digests?.endPass();
  return snapshot.version === undefined
    ? { files: read }
    : { files: read, version: snapshot.version };
}

/** Like {@linkcode readMount}, without the version. */
export function readMountFiles(
  mountDir: string,
  options: ReadMountOptions = {},
): MountFile[] | undefined {
  return readMount(mountDir, options).files;
}

function* jwtFileReads(
  mountDir: string,
  options: ReadMountOptions,
): Generator<void, MountFile[] | undefined> {
  const guard = options.files ?? new FileGuard();
  const names = listJwtNames(mountDir);
  if (names === undefined) return undefined;
  const files: MountFile[] = [];
  for (const name of names) {
    const file = readMountFile(mountDir, name, { ...options, files: guard });
    if (file !== undefined) files.push(file);
    yield;
  }
  return files;
}

/**
 * Reads one mounted file as {@linkcode readMountFiles} does.
 * @returns the file, or undefined for a directory named `*.jwt`
 */
export function readMountFile(
  mountDir: string,
  name: string,
  options: ReadMountOptions & { files: FileGuard },
): MountFile | undefined {
  const guard = options.files;
  const path = join(mountDir, name);
  try {
    // Kubelet's visible files are symlinks (isFile false): reading follows them. Reads are
    // synchronous on purpose: ten times faster than awaiting each of 10,000 small files.
    // A file known by its identity is not opened again, unless its text is wanted.
    const known = options.digests?.get(name);
    const skippable = known !== undefined && options.keepText?.(name, known.digest) === false;
    const read = guard.read(path, { unchangedFrom: skippable ? known.key : undefined });
    if (read.status === "unchanged") {
      options.digests!.note(name, read.identity, known!.digest, true);
      return { name, digest: known!.digest };
    }
    if (read.status === "read") {
      const digest = contentDigest(read.bytes);
      options.digests?.note(name, read.identity, digest);
      if (options.keepText && !options.keepText(name, digest)) return { name, digest };
      return { name, digest, text: decoder.decode(read.bytes) };
    } else if (read.status === "missing") {
      // A dangling link (mid kubelet swap): the next scan sees the settled state.
      return { name, error: "could not be read: it does not exist (a dangling link?)" };
    } else if (read.status === "not regular" && read.kind === "directory") {
      return undefined; // a directory named *.jwt
    }
    const error = `not read: ${rejectionReason(read, guard.maxBytes)}`;
    return { name, error, rejected: rejectionKey(read) };
  } catch (error) {
    // An unreadable file (permission denied): the next scan looks again.
    return { name, error: `could not be read: ${errorMessage(error)}` };
  }
}

/**
 * Checks one read mount file against the trust. The entry's digest is that of the trimmed JWT
 * when it is valid (what would be written), else the file's.
 * @throws {TypeError} for a file read without its text (nothing to check)
 */
export function checkMountFile(
  file: MountFile,
  trust: Trust,
  options: { now?: number } = {},
): MountEntry {
  if ("error" in file) return { name: file.name, check: { ok: false, reason: file.error } };
  if (file.text === undefined) {
    throw new TypeError(`${file.name} was read without its text: it cannot be checked`);
  }
  const expectedSub = accountOfFileName(file.name);
  const check = checkAccountJwt(file.text, expectedSub, trust, options);
  // The trimmed JWT is the file's text unless whitespace was cut: then it has a digest of its own.
  const digest = check.ok && check.jwt.length !== file.text.length
    ? contentDigest(check.jwt)
    : file.digest;
  return { name: file.name, check, digest };
}

/**
 * Reads every `*.jwt` file of the resolver dir (not `*.jwt.deleted` tombstones, not dotfiles, not
 * directories). A file the file guard refuses (a FIFO, a device, too large; it logs that once) is
 * left out, as if it were not there: a mounted JWT of that name is then written over it.
 *
 * @returns name -> content; an empty map when the dir does not exist
 * @throws {Error} naming the file when one cannot be read (other than vanishing while listed)
 */
export function readResolverDir(
  resolverDir: string,
  options: ReadFilesOptions = {},
): Map<string, string> {
  const guard = options.files ?? new FileGuard();
  const files = new Map<string, string>();
  const names = listJwtNames(resolverDir);
  for (const name of names ?? []) {
    const text = readResolverFile(resolverDir, name, { files: guard });
    if (text !== undefined) files.set(name, text);
  }
  return files;
}

/**
 * Reads one resolver file as {@linkcode readResolverDir} does.
 * @returns its text; undefined when it does not exist (the server may delete a file between
 *   listing and reading: it is simply not there) or the file guard refuses it
 * @throws {Error} naming the file when it cannot be read
 */
export function readResolverFile(
  resolverDir: string,
  name: string,
  options: ReadFilesOptions = {},
): string | undefined {
  const guard = options.files ?? new FileGuard();
  const read = readResolverPath(guard, join(resolverDir, name), undefined);
  return read.status === "read" ? decoder.decode(read.bytes) : undefined;
}

/** Options of {@linkcode readResolverCopies}. */
export interface ReadResolverOptions extends ReadFilesOptions {
  /** Only these names (default: every `*.jwt` file of the dir). */
  names?: readonly string[];
  /**
   * File name -> the digest of the mounted JWT: a copy that holds it needs no `iat` (the plan
   * finds it unchanged), so it is not decoded.
   */
  mounted?: ReadonlyMap<string, string>;
  /**
   * Digests from earlier whole reads (used, and renewed, only when every file is read): an
   * unchanged file that holds the mounted JWT is not opened.
   */
  digests?: FileDigests;
}

/**
 * Reads resolver files like {@linkcode readResolverDir}, but keeps only what the plan needs of
 * each: its digest, and its `iat` when it differs from the mounted JWT. A listed name that does not
 * exist (or that the file guard refuses) is left out, as absent.
 *
 * @returns name -> copy, for the files that exist
 * @throws {Error} naming the file when one cannot be read (other than vanishing while listed)
 */
export function readResolverCopies(
  resolverDir: string,
  options: ReadResolverOptions = {},
): Map<string, ResolverCopy> {
  return runSteps(resolverCopyReads(resolverDir, options));
}

/** Like {@linkcode readResolverCopies}, letting the event loop run (see `readMountLettingGo`). */
export function readResolverCopiesLettingGo(
  resolverDir: string,
  options: ReadResolverOptions = {},
): Promise<Map<string, ResolverCopy>> {
  return runStepsLettingGo(resolverCopyReads(resolverDir, options));
}

/** {@linkcode readResolverCopies}'s work, one file a step. */
function* resolverCopyReads(
  resolverDir: string,
  options: ReadResolverOptions,
): Generator<void, Map<string, ResolverCopy>> {
  const guard = options.files ?? new FileGuard();
  const copies = new Map<string, ResolverCopy>();
  const digests = options.names === undefined ? options.digests : undefined;
  const names = options.names ?? listJwtNames(resolverDir) ?? [];
  for (const name of names) {
    yield;
    const path = join(resolverDir, name);
    // A copy known by its identity to hold the mounted JWT is not opened; any other is read
    // (its iat may be needed).
    const known = digests?.get(name);
    const skippable = known !== undefined && options.mounted?.get(name) === known.digest;
    const read = readResolverPath(guard, path, skippable ? known.key : undefined);
    if (read.status === "unchanged") {
      digests!.note(name, read.identity, known!.digest, true);
      copies.set(name, { digest: known!.digest });
      continue;
    }
    if (read.status !== "read") continue;
    const digest = contentDigest(read.bytes);
    digests?.note(name, read.identity, digest);
    copies.set(
      name,
      options.mounted?.get(name) === digest
        ? { digest }
        : { digest, iat: issuedAt(decoder.decode(read.bytes)) },
    );
  }
  digests?.endPass();
  return copies;
}

/**
 * One resolver file through the guard (not noted as a watched regular file).
 * @throws {Error} naming the file when it cannot be read
 */
function readResolverPath(
  guard: FileGuard,
  path: string,
  unchangedFrom: string | undefined,
): BoundedRead | UnchangedRead {
  try {
    return guard.read(path, { noteRegular: false, unchangedFrom });
  } catch (error) {
    throw new Error(`could not read resolver file ${path}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}
