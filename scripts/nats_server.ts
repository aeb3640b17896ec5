/**
 * Finds a nats-server binary for the demo, the tests and the benchmarks, downloading one into the
 * project's cache (`.cache/`, git-ignored) when the machine has none. Needs no root and changes no
 * system configuration. Order:
 *   1. NATS_SERVER_BIN, if set and executable;
 *   2. `nats-server` on PATH, if it is 2.10 or newer;
 *   3. a binary already in the cache;
 *   4. the official release tarball of the pinned version, SHA-256 checked;
 *   5. Debian's archive (trixie, then sid) through a private apt configuration in the cache.
 *
 * Run directly, it prints the path it settled on: `deno run -A scripts/nats_server.ts`.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pathExists } from "../src/shared/path_exists.ts";

export const PINNED_VERSION = "2.12.4";
const PINNED_SHA256: Record<string, string> = {
  amd64: "92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65",
  arm64: "44a6ff34eff7e8d0e1409dbac0b733cff7ecbb4f19388a4d0d3d6085d899f017",
};
const DEBIAN_SUITES = ["trixie", "sid"];
const MIN_VERSION: readonly number[] = [2, 10, 0];

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const CACHE_DIR = join(REPO_ROOT, ".cache", "nats-server");
const CACHED_BIN = join(CACHE_DIR, "bin", "nats-server");

type Log = (line: string) => void;

/**
 * @returns the absolute path (or PATH name) of a usable nats-server 2.10+.
 * @throws an Error naming every route that was tried and why each failed.
 */
export async function resolveNatsServer(log: Log = () => {}): Promise<string> {
  const tried: string[] = [];
  const fromEnv = Deno.env.get("NATS_SERVER_BIN");
  if (fromEnv) {
    if (await isUsable(fromEnv)) return fromEnv;
    tried.push(`NATS_SERVER_BIN=${fromEnv}: not an executable nats-server 2.10+`);
  }
  if (await isUsable("nats-server")) return "nats-server";
  tried.push("nats-server on PATH: missing or older than 2.10");
  if (await isUsable(CACHED_BIN)) return CACHED_BIN;
  tried.push(`${CACHED_BIN}: not cached yet`);

  for (
    const [name, fetchBinary] of [
      [`official release v${PINNED_VERSION}`, fetchOfficialRelease],
      ...DEBIAN_SUITES.map((suite) => [`Debian ${suite}`, () => fetchFromDebian(suite)] as const),
    ] as const
  ) {
    try {
      log(`nats-server: fetching from ${name}`);
      const staged = await fetchBinary();
      await installIntoCache(staged);
      if (await isUsable(CACHED_BIN)) {
        log(`nats-server: using ${CACHED_BIN} (from ${name})`);
        return CACHED_BIN;
      }
      tried.push(`${name}: the fetched binary is not a usable nats-server 2.10+`);
    } catch (error) {
      tried.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    `no nats-server 2.10+ found or fetched. Tried:\n  - ${tried.join("\n  - ")}\n` +
      `Install one (e.g. from Debian trixie) or set NATS_SERVER_BIN to its path.`,
  );
}

/** Parses "nats-server: v2.10.27" and checks it against the minimum version. */
export function isSupportedVersion(versionOutput: string): boolean {
  const match = versionOutput.match(/v?(\d+)\.(\d+)\.(\d+)/);
  if (!match) return false;
  const parts = match.slice(1, 4).map(Number);
  for (let i = 0; i < 3; i++) {
    const [have, need] = [parts[i] ?? 0, MIN_VERSION[i] ?? 0];
    if (have !== need) return have > need;
  }
  return true;
}

async function isUsable(bin: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(bin, { args: ["--version"], stdin: "null" }).output();
    return out.success && isSupportedVersion(new TextDecoder().decode(out.stdout));
  } catch {
    return false; // missing or not executable: the caller tries the next route
  }
}

function debianArch(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

/** Downloads, verifies and unpacks the pinned release; returns the staged binary's path. */
async function fetchOfficialRelease(): Promise<string> {
  const arch = debianArch();
  const name = `nats-server-v${PINNED_VERSION}-linux-${arch}`;
  const url =
    `https://github.com/nats-io/nats-server/releases/download/v${PINNED_VERSION}/${name}.tar.gz`;
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== PINNED_SHA256[arch]) {
    throw new Error(`${url}: SHA-256 ${digest} does not match the pinned ${PINNED_SHA256[arch]}`);
  }
  const staging = await Deno.makeTempDir({ dir: await ensureCacheDir(), prefix: "stage-" });
  const tarball = join(staging, `${name}.tar.gz`);
  await Deno.writeFile(tarball, bytes);
  await run("tar", ["-xzf", tarball, "-C", staging]);
  return join(staging, name, "nats-server");
}

/** `apt-get download` with a private configuration rooted in the cache, then `dpkg-deb -x`. */
async function fetchFromDebian(suite: string): Promise<string> {
  const root = join(await ensureCacheDir(), "apt", suite);
  const lists = join(root, "lists");
  await Deno.mkdir(join(lists, "partial"), { recursive: true });
  await Deno.mkdir(join(root, "cache", "archives", "partial"), { recursive: true });
  const sources = join(root, "sources.list");
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  const signedBy = (await pathExists(keyring)) ? `[signed-by=${keyring}] ` : "";
  await Deno.writeTextFile(sources, `deb ${signedBy}http://deb.debian.org/debian ${suite} main\n`);
  const apt = [
    "-o",
    `Dir::Etc::sourcelist=${sources}`,
    "-o",
    "Dir::Etc::sourceparts=-",
    "-o",
    `Dir::State::Lists=${lists}`,
    "-o",
    `Dir::Cache=${join(root, "cache")}`,
    "-o",
    "Debug::NoLocking=1",
    "-o",
    "APT::Sandbox::User=root",
  ]; // deno-fmt-ignore
  await run("apt-get", [...apt, "update"], root);
  const staging = await Deno.makeTempDir({ dir: root, prefix: "stage-" });
  await run("apt-get", [...apt, "download", "nats-server"], staging);
  const debs = [...Deno.readDirSync(staging)].filter((e) => e.name.endsWith(".deb"));
  if (!debs[0]) throw new Error(`apt-get download left no .deb in ${staging}`);
  await run("dpkg-deb", ["-x", join(staging, debs[0].name), join(staging, "root")]);
  for (const candidate of ["usr/sbin/nats-server", "usr/bin/nats-server"]) {
    const path = join(staging, "root", candidate);
    if (await pathExists(path)) return path;
  }
  throw new Error(`the ${suite} package holds no nats-server binary`);
}

/** Moves a staged binary into place atomically, so parallel callers never see half a file. */
async function installIntoCache(staged: string): Promise<void> {
  await Deno.mkdir(join(CACHE_DIR, "bin"), { recursive: true });
  const temp = `${CACHED_BIN}.${crypto.randomUUID()}`;
  await Deno.copyFile(staged, temp);
  await Deno.chmod(temp, 0o755);
  await Deno.rename(temp, CACHED_BIN);
}

async function ensureCacheDir(): Promise<string> {
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  return CACHE_DIR;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", ...(cwd ? { cwd } : {}) })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.at(-1)} failed (${out.code}): ${text}`);
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  try {
    console.log(await resolveNatsServer((line) => console.error(line)));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
