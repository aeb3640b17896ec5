/**
 * Reads what each change cause covers and reduces it to one digest per cause, so the pipeline acts
 * only when content changed (a touch, a chmod or an identical re-render changes nothing). Also lists
 * the directories to watch: a file's parent, a directory itself, every directory of a tree (the TLS
 * dir and the creds dir, subdirectories included), or the nearest existing ancestor of a path that
 * does not exist yet (so its creation is noticed).
 *
 * Names starting with "." are skipped: kubelet's `..data` and timestamped dirs are internals; the
 * visible names are symlinks through them, and reading follows the links.
 *
 * Every file is read through a {@linkcode FileGuard}: a FIFO, socket, device or file larger than
 * `POT_NATS_MAX_FILE_BYTES` is not read. A named file (the config, an include, the accounts file)
 * that is not read counts in its digest as what it is and its identity, so a change of it is still
 * noticed (and the config is not applied); a too-large file in the TLS or creds tree counts by its
 * identity too, while a FIFO, socket or device there is skipped: nats-server cannot load one, so
 * its appearance alone never causes a reload.
 */

import { createHash, type Hash } from "node:crypto";
import { dirname, join } from "node:path";
import { type BoundedRead, FileGuard, rejectionKey } from "../shared/bounded_read.ts";
import type { Cause } from "./reload_policy.ts";
import {
  KUBELET_DATA,
  type MountFile,
  mountSnapshot,
  readMountLettingGo,
} from "../mirror/files.ts";
import type { FileDigests } from "../shared/file_digests.ts";
import { ServerView } from "../config/server_view.ts";

export interface ScanPaths {
  confPath: string;
  accountsPath: string;
  sslDir: string;
  jwtMountDir: string;
  credsDir: string;
}

export interface Scan {
  digests: Map<Cause, string>;
  /** Directories to watch (non-recursively). */
  watchDirs: Set<string>;
  /** The mount's JWT files as read for the digest, for the mirror to use without reading again. */
  mountFiles: MountFile[] | undefined;
  /** The server config as this scan read it, once for the whole pass; undefined when it could not. */
  config: ServerView | undefined;
  /** Why the config could not be read (`config` is undefined then). */
  configError?: unknown;
  /** NATS_CONF and every file it includes, as last parsed. */
  configFiles: string[];
  /** Config or accounts files that were not read (a FIFO, a device, too large): never applied. */
  rejectedConfig: string[];
  /**
   * Kubelet volumes caught mid-update: `..data` already points at the new content but the visible
   * names do not match it yet (kubelet creates and removes them after the swap).
   */
  settling: string[];
}

/** How deep a TLS tree is walked; deeper is almost certainly a link loop. */
const MAX_TREE_DEPTH = 8;

export interface ScanOptions {
  /** Reads every file (default: a guard of its own, with the default size cap). */
  files?: FileGuard;
  /**
   * Whether a mounted JWT file's text is kept for the mirror (default: always); its digest always
   * is. The pipeline asks the mirror (`JwtMirror.needsText`).
   */
  keepMountText?: (name: string, digest: string) => boolean;
  /** Digests of mounted files from earlier passes: an unchanged file is stat'ed, not read. */
  mountDigests?: FileDigests;
}

/**
 * Scans every cause once.
 * @param previousConfigFiles the include list of the last good parse, used while the config does
 *   not parse (so its includes stay watched).
 */
export async function scanAll(
  paths: ScanPaths,
  previousConfigFiles: string[],
  options: ScanOptions = {},
): Promise<Scan> {
  const files = options.files ?? new FileGuard();
  const watchDirs = new Set<string>();
  // Checked before reading too: a read that began while kubelet was still fixing a volume's links
  // may have missed names, even when the volume is settled again by the time the read ends.
  const settling: string[] = [];
  const roots = [
    dirname(paths.confPath),
    dirname(paths.accountsPath),
    paths.sslDir,
    paths.credsDir,
  ];
  for (const dir of new Set(roots)) if (!(await kubeletVolumeSettled(dir))) settling.push(dir);
  const { config, configError } = readConfig(paths.confPath, files);
  const configFiles = config ? [...config.files] : unique([paths.confPath, ...previousConfigFiles]);
  const digests = new Map<Cause, string>();
  const rejectedConfig: string[] = [];
  digests.set("config", await digestFiles(configFiles, { watchDirs, files, rejectedConfig }));
  digests.set(
    "accounts",
    await digestFiles([paths.accountsPath], { watchDirs, files, rejectedConfig }),
  );
  digests.set("tls", await digestTree(paths.sslDir, { watchDirs, files }));
  // Subdirectories too: a leaf's remote creds come in a directory of their own (a projected
  // Secret's `leafnode/hub.creds`), and a change there must restart it like any other creds.
  digests.set("creds", await digestTree(paths.credsDir, { watchDirs, files }));
  const { files: mountFiles, version } = await readMountLettingGo(paths.jwtMountDir, {
    files,
    ...(options.keepMountText ? { keepText: options.keepMountText } : {}),
    ...(options.mountDigests ? { digests: options.mountDigests } : {}),
  });
  await addWatchDir(paths.jwtMountDir, watchDirs);
  digests.set("jwt", digestMount(mountFiles));
  for (const dir of watchDirs) {
    if (settling.includes(dir)) continue;
    // A kubelet mount is read from the version `..data` pointed at (whole, whatever the visible
    // links are doing): it is settled unless a newer swap came during the read.
    if (dir === paths.jwtMountDir && version !== undefined) {
      if (mountSnapshot(dir).version !== version) settling.push(dir);
    } else if (!(await kubeletVolumeSettled(dir))) {
      settling.push(dir);
    }
  }
  const scan: Scan = {
    digests,
    watchDirs,
    mountFiles,
    config,
    configFiles,
    rejectedConfig,
    settling,
  };
  if (!config) scan.configError = configError;
  return scan;
}

/**
 * False while a kubelet volume is mid-update: the names in `..data/` differ from the visible names.
 * A directory without `..data` is not a kubelet volume and always counts as settled.
 */
export async function kubeletVolumeSettled(dir: string): Promise<boolean> {
  const data = join(dir, KUBELET_DATA);
  if (!(await statOrUndefined(data))?.isDirectory) return true;
  const [inData, visible] = [visibleNamesSync(data), visibleNamesSync(dir)];
  return inData.length === visible.length && inData.every((name, i) => name === visible[i]);
}

/**
 * The server config, or why it cannot be read now. A missing, broken or rejected config is
 * reported by `nats-server -t` or the file guard before any reload, and by the mirror, which
 * needs its trust; here it only means the include list is unknown for now.
 */
function readConfig(
  confPath: string,
  files: FileGuard,
): { config: ServerView | undefined; configError?: unknown } {
  try {
    return { config: ServerView.read(confPath, { readTextFile: (path) => files.readText(path) }) };
  } catch (error) {
    return { config: undefined, configError: error };
  }
}

interface DigestContext {
  watchDirs: Set<string>;
  files: FileGuard;
  /** Collects the files that were not read. */
  rejectedConfig?: string[];
}

async function digestFiles(paths: string[], context: DigestContext): Promise<string> {
  const hash = createHash("sha256");
  for (const path of paths) {
    await addWatchDir(dirname(path), context.watchDirs);
    const read = context.files.read(path);
    if (isRejected(read)) context.rejectedConfig?.push(path);
    hashEntry(hash, path, read);
  }
  return hash.digest("hex");
}

/** Digest of every visible file below `root` (down to MAX_TREE_DEPTH levels of subdirectories). */
async function digestTree(root: string, context: DigestContext): Promise<string> {
  const { watchDirs, files } = context;
  const hash = createHash("sha256");
  await addWatchDir(root, watchDirs);
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const name of await visibleNames(dir)) {
      const path = join(dir, name);
      const info = await statOrUndefined(path);
      if (info?.isDirectory) {
        if (depth >= MAX_TREE_DEPTH) continue;
        watchDirs.add(path);
        hash.update(`${path}/`).update("\0\0");
        await walk(path, depth + 1);
      } else if (info !== undefined) {
        const read = files.read(path);
        // A FIFO, socket or device in a TLS or creds tree is nothing nats-server can load: it is
        // skipped (the guard warns once), so its appearance alone never causes a reload.
        if (read.status === "not regular") continue;
        hashEntry(hash, path, read);
      }
    }
  };
  await walk(root, 0);
  return hash.digest("hex");
}

/** One digest of the mount: each file's name and the digest of its content (or why not read). */
function digestMount(files: MountFile[] | undefined): string {
  const hash = createHash("sha256");
  for (const file of files ?? []) {
    const content = "digest" in file
      ? file.digest
      : file.rejected === undefined
      ? "\u0001unreadable"
      : `\u0001rejected ${file.rejected}`;
    hash.update(`${file.name}\0${content}\0`);
  }
  return hash.digest("hex");
}

/** Hashes a file's path and content; a file not read counts as what it is and its identity. */
function hashEntry(hash: Hash, path: string, read: BoundedRead): void {
  hash.update(path).update("\0");
  if (read.status === "read") hash.update(read.bytes);
  else if (read.status === "missing" || !isRejected(read)) hash.update("\u0001missing");
  else hash.update(`\u0001rejected ${rejectionKey(read)}`);
  hash.update("\0");
}

/** A file refused for what it is; a directory where a file was expected counts as missing. */
function isRejected(read: BoundedRead): boolean {
  return read.status === "too large" ||
    (read.status === "not regular" && read.kind !== "directory");
}

/** Watches `dir`, or its nearest existing ancestor while it does not exist. */
async function addWatchDir(dir: string, watchDirs: Set<string>): Promise<void> {
  let candidate = dir;
  while (!(await statOrUndefined(candidate))?.isDirectory) {
    const parent = dirname(candidate);
    if (parent === candidate) return;
    candidate = parent;
  }
  watchDirs.add(candidate);
}

async function visibleNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.startsWith(".")) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw error;
    }
  }
  return names.sort();
}

/** Like visibleNames, synchronously: listing 10,000 entries awaits 10,000 times otherwise. */
function visibleNamesSync(dir: string): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.name.startsWith(".")) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw error;
    }
  }
  return names.sort();
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
