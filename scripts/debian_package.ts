/**
 * One Debian package's files, fetched without root into the project's cache: a private apt
 * configuration rooted there (`apt-get update`, `apt-cache show`, `apt-get download`), then
 * `dpkg-deb -x`, from the archives the machine's own apt configuration names (`apt_sources.ts`),
 * so a local mirror is honoured. Used for nats-server and for Prometheus's `promtool`.
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../src/shared/path_exists.ts";
import { type DebianArchive, readDebianArchives } from "./apt_sources.ts";

/** A package a Debian suite offers, as its archive's index says, with the apt setup to get it. */
export interface DebianPackage {
  name: string;
  suite: string;
  archive: DebianArchive;
  /** As Debian writes it: `2.10.27-1+b3`. */
  packageVersion: string;
  /** The private apt configuration's options. */
  apt: string[];
  root: string;
}

/** A downloaded package unpacked in a staging folder, removed by the caller once done. */
export interface UnpackedPackage {
  /** The folder the package's files are unpacked into (`usr/bin/...` below it). */
  root: string;
  staging: string;
}

let archivesRead: Promise<DebianArchive[]> | undefined;

/** The machine's Debian archives, read once per process. */
function machineArchives(): Promise<DebianArchive[]> {
  archivesRead ??= readDebianArchives();
  return archivesRead;
}

/**
 * Asks the machine's Debian archives, in their configured order, which version of `name` `suite`
 * carries; the first that answers wins.
 * @param cacheDir where the private apt configuration lives (`<cacheDir>/apt/<suite>`)
 * @throws an Error naming each archive and why it failed (or that none is configured)
 */
export async function lookUpDebianPackage(
  name: string,
  suite: string,
  options: { cacheDir: string; log?: (line: string) => void },
): Promise<DebianPackage> {
  const failures: string[] = [];
  for (const archive of await machineArchives()) {
    try {
      return await lookUpIn(name, suite, archive, options.cacheDir);
    } catch (error) {
      const reason = `${archive.uri} (from ${archive.origin}): ${(error as Error).message}`;
      options.log?.(`${name}: Debian ${suite} from ${reason}`);
      failures.push(reason);
    }
  }
  throw new Error(failures.join("; "));
}

async function lookUpIn(
  name: string,
  suite: string,
  archive: DebianArchive,
  cacheDir: string,
): Promise<DebianPackage> {
  const root = join(cacheDir, "apt", suite);
  const lists = join(root, "lists");
  await Deno.mkdir(join(lists, "partial"), { recursive: true });
  await Deno.mkdir(join(root, "cache", "archives", "partial"), { recursive: true });
  const sources = join(root, "sources.list");
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  const option = archive.trusted
    ? "[trusted=yes] "
    : archive.signedBy
    ? `[signed-by=${archive.signedBy}] `
    : (await pathExists(keyring))
    ? `[signed-by=${keyring}] `
    : "";
  await Deno.writeTextFile(sources, `deb ${option}${archive.uri} ${suite} main\n`);
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
  await runTool("apt-get", [...apt, "update"], root);
  const shown = await runTool("apt-cache", [...apt, "show", "--no-all-versions", name], root);
  const packageVersion = shown.match(/^Version:\s*(\S+)/m)?.[1];
  if (!packageVersion) throw new Error(`its index lists no ${name} version`);
  return { name, suite, archive, packageVersion, apt, root };
}

/**
 * `apt-get download` of the looked-up package, then `dpkg-deb -x` into a staging folder.
 * @throws when apt-get or dpkg-deb fails (the staging folder is removed then)
 */
export async function downloadDebianPackage(pkg: DebianPackage): Promise<UnpackedPackage> {
  const staging = await Deno.makeTempDir({ dir: pkg.root, prefix: "stage-" });
  try {
    await runTool(
      "apt-get",
      [...pkg.apt, "download", `${pkg.name}=${pkg.packageVersion}`],
      staging,
    );
    const debs = [...Deno.readDirSync(staging)].filter((e) => e.name.endsWith(".deb"));
    if (!debs[0]) throw new Error(`apt-get download left no .deb in ${staging}`);
    const root = join(staging, "root");
    await runTool("dpkg-deb", ["-x", join(staging, debs[0].name), root]);
    return { root, staging };
  } catch (error) {
    await Deno.remove(staging, { recursive: true });
    throw error;
  }
}

/**
 * Runs a tool to completion (also for `nats_server.ts`'s tarball route).
 * @returns its stdout
 * @throws when it is missing (saying what the route needs) or fails (with its last error lines)
 */
export async function runTool(cmd: string, args: string[], cwd?: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdin: "null", ...(cwd ? { cwd } : {}) }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      cmd === "tar"
        ? "tar is not installed: the tarball route needs it"
        : `${cmd} is not installed: the Debian route needs apt-get and dpkg-deb (a Debian-like host)`,
    );
  }
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.at(-1)} failed (${out.code}): ${text}`);
  }
  return new TextDecoder().decode(out.stdout);
}
