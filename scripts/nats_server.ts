/**
 * Finds a nats-server binary for the demo, the tests and the benchmarks, fetching one into the
 * project's cache (`.cache/`, git-ignored) when the machine has none. The cache holds several
 * versions side by side, one folder each (`.cache/nats-server/<version>/nats-server`), so the
 * tests can run against the oldest supported and the newest available. Needs no root and changes
 * no system configuration. (The single `bin/nats-server` of the layout before is not looked at: it
 * is whatever the first working route once gave, often trixie's 2.10.27.)
 *
 * - By default (the demo, `deno task test`): `NATS_SERVER_BIN` if set; else the newest usable
 *   2.10+ at hand (`nats-server` on PATH, the cache); else the first that works of: the official
 *   release v{@linkcode PINNED_VERSION} (SHA-256 checked, the image's version), Debian sid, Debian
 *   trixie.
 * - `--oldest`: a 2.10.x at hand, else Debian trixie's (the oldest supported line).
 * - `--newest`: the version Debian sid carries (asked every time), unless one at least as new is
 *   at hand; when sid cannot be asked, the newest at hand.
 *
 * Debian packages come through a private apt configuration rooted in the cache (`apt-get
 * download`, then `dpkg-deb -x`), from the archives the machine's own apt configuration names
 * (`apt_sources.ts`), so a local mirror is honoured. Every failed route is logged with its reason.
 *
 * Run directly, it prints the path it settled on:
 * `deno run -A scripts/nats_server.ts [--oldest | --newest]`.
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pathExists } from "../src/shared/path_exists.ts";
import {
  type DebianPackage,
  downloadDebianPackage,
  lookUpDebianPackage,
  runTool,
} from "./debian_package.ts";

export const PINNED_VERSION = "2.12.4";
const PINNED_SHA256: Record<string, string> = {
  amd64: "92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65",
  arm64: "44a6ff34eff7e8d0e1409dbac0b733cff7ecbb4f19388a4d0d3d6085d899f017",
};
const RELEASE_TIMEOUT_MS = 15_000;

/** `major.minor.patch`. */
export type Version = readonly [number, number, number];

/** The oldest supported nats-server, and the Debian suite that carries its line. */
const MIN_VERSION: Version = [2, 10, 0];
const OLDEST_SUITE = "trixie";
/** Debian's unstable suite carries the newest packaged nats-server. */
const NEWEST_SUITE = "sid";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const CACHE_DIR = join(REPO_ROOT, ".cache", "nats-server");
type Log = (line: string) => void;

/** Which nats-server to settle on; see the module's description. */
export type Want = "default" | "oldest" | "newest";

/** A usable nats-server and its version. */
interface Found {
  bin: string;
  version: Version;
}

/**
 * @returns the absolute path (or PATH name) of a usable nats-server 2.10+.
 * @throws an Error naming every route that was tried and why each failed.
 */
export async function resolveNatsServer(
  log: Log = () => {},
  options: { want?: Want } = {},
): Promise<string> {
  const want = options.want ?? "default";
  if (want === "oldest") return await resolveOldest(log);
  if (want === "newest") return await resolveNewest(log);
  const fromEnv = Deno.env.get("NATS_SERVER_BIN");
  if (fromEnv) {
    const version = await probeVersion(fromEnv);
    if (version && isSupported(version)) return fromEnv;
    throw new Error(
      `NATS_SERVER_BIN=${fromEnv} is not an executable nats-server ${formatVersion(MIN_VERSION)}+` +
        `${version ? ` (it is ${formatVersion(version)})` : ""}; fix it, or unset it to find one`,
    );
  }
  const [newest] = await binariesAtHand();
  if (newest) return newest.bin;
  return await fetchFirst([releaseRoute(), debianRoute(NEWEST_SUITE), debianRoute(OLDEST_SUITE)], {
    log,
    tried: ["nats-server on PATH and in .cache/nats-server/: none usable"],
  });
}

async function resolveOldest(log: Log): Promise<string> {
  const [major, minor] = MIN_VERSION;
  const found = (await binariesAtHand()).filter((f) =>
    f.version[0] === major && f.version[1] === minor
  );
  if (found[0]) return found[0].bin;
  return await fetchFirst([debianRoute(OLDEST_SUITE, MIN_VERSION)], { log, tried: [] });
}

async function resolveNewest(log: Log): Promise<string> {
  let offered: OfferedNatsServer | undefined;
  let reason = "";
  try {
    offered = await lookUpDebian(NEWEST_SUITE, log);
  } catch (error) {
    reason = errorMessage(error);
    log(`nats-server: cannot ask Debian ${NEWEST_SUITE} for its version: ${reason}`);
  }
  const [newest] = await binariesAtHand();
  if (offered && newest && compareVersions(newest.version, offered.upstream) >= 0) {
    return newest.bin;
  }
  if (offered) {
    return await install(await downloadDebian(offered), log, `Debian ${offered.pkg.suite}`);
  }
  if (newest) {
    log(`nats-server: using the newest at hand, ${formatVersion(newest.version)}`);
    return newest.bin;
  }
  throw new Error(`no nats-server at hand, and Debian ${NEWEST_SUITE} failed: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// Versions (pure)

/** @returns the first `major.minor.patch` in `text` (`nats-server: v2.10.27`), or undefined */
export function parseVersion(text: string): Version | undefined {
  const match = text.match(/(\d+)\.(\d+)\.(\d+)/);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/** @returns negative, zero or positive as `a` is older than, the same as or newer than `b` */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function formatVersion(version: Version): string {
  return version.join(".");
}

function isSupported(version: Version): boolean {
  return compareVersions(version, MIN_VERSION) >= 0;
}

/** Parses "nats-server: v2.10.27" and checks it against the minimum version. */
export function isSupportedVersion(versionOutput: string): boolean {
  const version = parseVersion(versionOutput);
  return version !== undefined && isSupported(version);
}

/**
 * The cache's version folders among `names` (a listing of `.cache/nats-server/`), newest first;
 * anything else there (`apt`, `bin`, a staging folder) is left out.
 */
export function versionFoldersNewestFirst(names: readonly string[]): string[] {
  return names.filter((name) => /^\d+\.\d+\.\d+$/.test(name))
    .sort((a, b) => compareVersions(parseVersion(b)!, parseVersion(a)!));
}

/** The upstream version of a Debian package version (`1:2.10.27-1+b3` is 2.10.27). */
export function debianUpstreamVersion(packageVersion: string): Version | undefined {
  return parseVersion(packageVersion.replace(/^\d+:/, ""));
}

// ---------------------------------------------------------------------------------------------
// What is at hand

/** Every usable nats-server 2.10+ on PATH and in the cache, newest first. */
async function binariesAtHand(): Promise<Found[]> {
  let folders: string[] = [];
  try {
    folders = versionFoldersNewestFirst(
      [...Deno.readDirSync(CACHE_DIR)].filter((e) => e.isDirectory).map((e) => e.name),
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const candidates = ["nats-server", ...folders.map(cachedBin)];
  const found: Found[] = [];
  for (const bin of candidates) {
    const version = await probeVersion(bin);
    if (version && isSupported(version)) found.push({ bin, version });
  }
  return found.sort((a, b) => compareVersions(b.version, a.version));
}

function cachedBin(version: string): string {
  return join(CACHE_DIR, version, "nats-server");
}

/** @returns the version `bin --version` reports, or undefined when it cannot be run */
async function probeVersion(bin: string): Promise<Version | undefined> {
  try {
    const out = await new Deno.Command(bin, { args: ["--version"], stdin: "null" }).output();
    return out.success ? parseVersion(new TextDecoder().decode(out.stdout)) : undefined;
  } catch {
    return undefined; // missing or not executable: the caller tries the next one
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching

interface Route {
  name: string;
  /** @returns the path of a usable binary (cached already, or fetched and installed) */
  fetch(log: Log): Promise<string>;
}

/** Tries each route in turn, logging why each failed; throws with every reason when all did. */
async function fetchFirst(
  routes: readonly Route[],
  { log, tried }: { log: Log; tried: string[] },
): Promise<string> {
  for (const route of routes) {
    try {
      log(`nats-server: fetching from ${route.name}`);
      return await route.fetch(log);
    } catch (error) {
      const reason = errorMessage(error);
      log(`nats-server: ${route.name} failed: ${reason}`);
      tried.push(`${route.name}: ${reason}`);
    }
  }
  throw new Error(
    `no nats-server ${formatVersion(MIN_VERSION)}+ found or fetched. Tried:\n  - ` +
      `${tried.join("\n  - ")}\nSet NATS_SERVER_BIN to a nats-server binary, or make the ` +
      "release host or a Debian archive reachable (see README: Where nats-server comes from).",
  );
}

function releaseRoute(): Route {
  return {
    name: `the official release v${PINNED_VERSION}`,
    async fetch(log) {
      const cached = cachedBin(PINNED_VERSION);
      if (await probeVersion(cached)) return cached;
      return await install(await fetchOfficialRelease(), log, `the official release`);
    },
  };
}

function debianRoute(suite: string, line?: Version): Route {
  return {
    name: `Debian ${suite}`,
    async fetch(log) {
      const offered = await lookUpDebian(suite, log);
      if (line && (offered.upstream[0] !== line[0] || offered.upstream[1] !== line[1])) {
        throw new Error(
          `it carries nats-server ${offered.pkg.packageVersion}, not ${line[0]}.${line[1]}.x`,
        );
      }
      const cached = cachedBin(formatVersion(offered.upstream));
      if (await probeVersion(cached)) return cached;
      return await install(await downloadDebian(offered), log, `Debian ${suite}`);
    },
  };
}

/**
 * Why a download failed, in an operator's words: Deno's fetch says only "fetch failed", and its
 * cause says why (a DNS lookup, a refused or reset connection); a timeout is its own error.
 */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  // The cause repeats the URL the caller names already.
  return cause ? cause.message.replace(/^error sending request for url \(.*?\): /, "") : (
    errorMessage(error)
  );
}

function debianArch(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

/** Downloads, verifies and unpacks the pinned release; returns the staged binary's path. */
async function fetchOfficialRelease(): Promise<Staged> {
  const arch = debianArch();
  const name = `nats-server-v${PINNED_VERSION}-linux-${arch}`;
  const url =
    `https://github.com/nats-io/nats-server/releases/download/v${PINNED_VERSION}/${name}.tar.gz`;
  let bytes: Uint8Array;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(RELEASE_TIMEOUT_MS) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`${url}: ${describeFetchError(error, RELEASE_TIMEOUT_MS)}`);
  }
  const digest = await sha256Hex(bytes);
  if (digest !== PINNED_SHA256[arch]) {
    throw new Error(
      `${url}: SHA-256 mismatch: got ${digest}, pinned ${PINNED_SHA256[arch]}; not used`,
    );
  }
  const staging = await Deno.makeTempDir({ dir: await ensureCacheDir(), prefix: "stage-" });
  const tarball = join(staging, `${name}.tar.gz`);
  await Deno.writeFile(tarball, bytes);
  await runTool("tar", ["-xzf", tarball, "-C", staging]);
  return { bin: join(staging, name, "nats-server"), staging };
}

/** nats-server as a Debian suite offers it, with its upstream version. */
interface OfferedNatsServer {
  pkg: DebianPackage;
  upstream: Version;
}

/**
 * Asks the machine's Debian archives which nats-server `suite` carries.
 * @throws an Error naming each archive and why it failed (or that none is configured)
 */
async function lookUpDebian(suite: string, log: Log): Promise<OfferedNatsServer> {
  const pkg = await lookUpDebianPackage("nats-server", suite, {
    cacheDir: await ensureCacheDir(),
    log,
  });
  const upstream = debianUpstreamVersion(pkg.packageVersion);
  if (!upstream) throw new Error(`its index lists no nats-server version`);
  return { pkg, upstream };
}

/** Downloads the offered package and finds the nats-server binary in it. */
async function downloadDebian(offered: OfferedNatsServer): Promise<Staged> {
  const { root, staging } = await downloadDebianPackage(offered.pkg);
  for (const candidate of ["usr/sbin/nats-server", "usr/bin/nats-server"]) {
    const bin = join(root, candidate);
    if (await pathExists(bin)) return { bin, staging };
  }
  await Deno.remove(staging, { recursive: true });
  const { suite, packageVersion } = offered.pkg;
  throw new Error(`the ${suite} package ${packageVersion} holds no nats-server binary`);
}

/** A fetched binary in a staging folder that is removed once the binary is installed. */
interface Staged {
  bin: string;
  staging: string;
}

/**
 * Moves a staged binary into its version's folder atomically (parallel callers never see half a
 * file), and removes the staging folder.
 * @returns the installed binary's path
 */
async function install(staged: Staged, log: Log, from: string): Promise<string> {
  try {
    const version = await probeVersion(staged.bin);
    if (!version || !isSupported(version)) {
      throw new Error(
        `the fetched binary is not a usable nats-server ${formatVersion(MIN_VERSION)}+`,
      );
    }
    const bin = cachedBin(formatVersion(version));
    await Deno.mkdir(dirname(bin), { recursive: true });
    const temp = `${bin}.${crypto.randomUUID()}`;
    await Deno.copyFile(staged.bin, temp);
    await Deno.chmod(temp, 0o755);
    await Deno.rename(temp, bin);
    log(`nats-server: using ${bin} (${formatVersion(version)}, from ${from})`);
    return bin;
  } finally {
    await Deno.remove(staged.staging, { recursive: true });
  }
}

async function ensureCacheDir(): Promise<string> {
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  return CACHE_DIR;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

if (import.meta.main) {
  const flags: Record<string, Want> = { "--oldest": "oldest", "--newest": "newest" };
  const [flag, ...rest] = Deno.args;
  const want = flag === undefined ? "default" : flags[flag];
  if (!want || rest.length > 0) {
    console.error("usage: deno run -A scripts/nats_server.ts [--oldest | --newest]");
    Deno.exit(2);
  }
  try {
    console.log(await resolveNatsServer((line) => console.error(line), { want }));
  } catch (error) {
    console.error(errorMessage(error));
    Deno.exit(1);
  }
}
