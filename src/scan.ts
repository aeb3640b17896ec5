/**
 * Reads what each change cause covers and reduces it to one digest per cause, so the pipeline acts
 * only when content changed (a touch, a chmod or an identical re-render changes nothing). Also lists
 * the directories to watch: a file's parent, a directory itself, every directory of a tree, or the
 * nearest existing ancestor of a path that does not exist yet (so its creation is noticed).
 *
 * Names starting with "." are skipped: kubelet's `..data` and timestamped dirs are internals; the
 * visible names are symlinks through them, and reading follows the links.
 */

import { createHash, type Hash } from "node:crypto";
import { dirname, join } from "node:path";
import type { Cause } from "./reload_policy.ts";
import { type MountFile, readMountFiles } from "./mirror.ts";
import { readServerConfig } from "./server_config.ts";

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
  /** NATS_CONF and every file it includes, as last parsed. */
  configFiles: string[];
  /**
   * Kubelet volumes caught mid-update: `..data` already points at the new content but the visible
   * names do not match it yet (kubelet creates and removes them after the swap).
   */
  settling: string[];
}

/** How deep a TLS tree is walked; deeper is almost certainly a link loop. */
const MAX_TREE_DEPTH = 8;

/**
 * Scans every cause once.
 * @param previousConfigFiles the include list of the last good parse, used while the config does
 *   not parse (so its includes stay watched).
 */
export async function scanAll(paths: ScanPaths, previousConfigFiles: string[]): Promise<Scan> {
  const watchDirs = new Set<string>();
  const configFiles = includedFiles(paths.confPath) ??
    unique([paths.confPath, ...previousConfigFiles]);
  const digests = new Map<Cause, string>();
  digests.set("config", await digestFiles(configFiles, watchDirs));
  digests.set("accounts", await digestFiles([paths.accountsPath], watchDirs));
  digests.set("tls", await digestTree(paths.sslDir, watchDirs));
  digests.set("creds", await digestTree(paths.credsDir, watchDirs, 0));
  const mountFiles = readMountFiles(paths.jwtMountDir);
  await addWatchDir(paths.jwtMountDir, watchDirs);
  digests.set("jwt", digestMount(mountFiles));
  const settling: string[] = [];
  for (const dir of watchDirs) if (!(await kubeletVolumeSettled(dir))) settling.push(dir);
  return { digests, watchDirs, mountFiles, configFiles, settling };
}

/**
 * False while a kubelet volume is mid-update: the names in `..data/` differ from the visible names.
 * A directory without `..data` is not a kubelet volume and always counts as settled.
 */
export async function kubeletVolumeSettled(dir: string): Promise<boolean> {
  const data = join(dir, "..data");
  if (!(await statOrUndefined(data))?.isDirectory) return true;
  const [inData, visible] = [visibleNamesSync(data), visibleNamesSync(dir)];
  return inData.length === visible.length && inData.every((name, i) => name === visible[i]);
}

/** NATS_CONF and its includes, or undefined when the config does not parse now. */
function includedFiles(confPath: string): string[] | undefined {
  try {
    return readServerConfig(confPath).files;
  } catch {
    // A missing or broken config is reported by `nats-server -t` before any reload; here it only
    // means the include list is unknown for now.
    return undefined;
  }
}

async function digestFiles(files: string[], watchDirs: Set<string>): Promise<string> {
  const hash = createHash("sha256");
  for (const file of files) {
    await addWatchDir(dirname(file), watchDirs);
    hashEntry(hash, file, await readOrMissing(file));
  }
  return hash.digest("hex");
}

/** Digest of every visible file below `root` (down to `maxDepth` levels of subdirectories). */
async function digestTree(
  root: string,
  watchDirs: Set<string>,
  maxDepth = MAX_TREE_DEPTH,
): Promise<string> {
  const hash = createHash("sha256");
  await addWatchDir(root, watchDirs);
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const name of await visibleNames(dir)) {
      const path = join(dir, name);
      const info = await statOrUndefined(path);
      if (info?.isDirectory) {
        if (depth >= maxDepth) continue;
        watchDirs.add(path);
        hashEntry(hash, `${path}/`, new Uint8Array());
        await walk(path, depth + 1);
      } else if (info?.isFile) {
        hashEntry(hash, path, await readOrMissing(path));
      }
    }
  };
  await walk(root, 0);
  return hash.digest("hex");
}

function digestMount(files: MountFile[] | undefined): string {
  const hash = createHash("sha256");
  for (const file of files ?? []) {
    hash.update(file.name).update("\0").update("text" in file ? file.text : "\u0001unreadable")
      .update("\0");
  }
  return hash.digest("hex");
}

function hashEntry(hash: Hash, path: string, content: Uint8Array | undefined): void {
  hash.update(path).update("\0");
  if (content === undefined) hash.update("\u0001missing");
  else hash.update(content);
  hash.update("\0");
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

async function readOrMissing(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) {
      return undefined;
    }
    throw error;
  }
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
