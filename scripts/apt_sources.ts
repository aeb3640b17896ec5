/**
 * The Debian archives this machine's apt is configured with, so `scripts/nats_server.ts` fetches
 * from the archive (or local mirror) the machine already uses instead of a host written into the
 * code. Reads both formats apt reads:
 *
 * - deb822 stanzas in `sources.list.d/*.sources` (`Types:`, `URIs:` with one or more URIs,
 *   `Suites:`, `Signed-By:`, `Enabled:`, `Trusted:`; `#` comment lines; continuation lines);
 * - one-line entries in `sources.list` and `sources.list.d/*.list`
 *   (`deb [option=value ...] uri suite [component...]`, `#` starts a comment).
 *
 * An archive is a `deb` source serving at least one release suite (a name without `-`, such as
 * `bookworm`, `stable` or `sid`): a `-security` or `-updates` archive cannot serve another release.
 *
 * @module
 */

import { join } from "node:path";

/** One Debian archive the machine's apt uses. */
export interface DebianArchive {
  /** The archive's root URI, without a trailing slash. */
  uri: string;
  /** The keyring that signs it, when the entry names one by path. */
  signedBy?: string;
  /** The entry says `trusted=yes` (a local mirror without signatures). */
  trusted?: boolean;
  /** Where it is configured, `file:line`, for messages. */
  origin: string;
}

/** One configuration file's text, named for messages. */
export interface AptSourceFile {
  path: string;
  text: string;
}

/** A source entry as written, before deciding whether it is an archive. */
interface SourceEntry {
  types: string[];
  uris: string[];
  suites: string[];
  enabled: boolean;
  signedBy?: string;
  trusted?: boolean;
  origin: string;
}

/**
 * The archives configured in `files`, in file order, each URI once (its first entry wins).
 * `.sources` files are read as deb822, any other file as one-line entries.
 * @returns the archives; empty when none is configured
 */
export function debianArchives(files: readonly AptSourceFile[]): DebianArchive[] {
  const archives = new Map<string, DebianArchive>();
  for (const file of files) {
    const entries = file.path.endsWith(".sources")
      ? parseDeb822(file.text, file.path)
      : parseOneLine(file.text, file.path);
    for (const entry of entries) {
      if (!entry.enabled || !entry.types.includes("deb")) continue;
      if (!entry.suites.some(isReleaseSuite)) continue;
      for (const raw of entry.uris) {
        if (raw.startsWith("cdrom:")) continue;
        const uri = raw.replace(/\/+$/, "");
        if (archives.has(uri)) continue;
        archives.set(uri, {
          uri,
          ...(entry.signedBy ? { signedBy: entry.signedBy } : {}),
          ...(entry.trusted ? { trusted: true } : {}),
          origin: entry.origin,
        });
      }
    }
  }
  return [...archives.values()];
}

/** A release suite: `bookworm`, `stable`, `sid`; not `bookworm-security` nor a flat `./`. */
function isReleaseSuite(suite: string): boolean {
  return /^[a-z][a-z0-9]*$/.test(suite);
}

/** deb822 stanzas; a `Signed-By:` holding an inline key (not a path) is left out. */
function parseDeb822(text: string, path: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  let fields = new Map<string, string>();
  let start = 0;
  let current: string | undefined;
  const flush = () => {
    if (fields.size > 0) entries.push(deb822Entry(fields, `${path}:${start}`));
    fields = new Map();
    current = undefined;
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    if (line.startsWith("#")) return;
    if (line.trim() === "") return flush();
    if (/^[ \t]/.test(line)) {
      // A continuation line (an inline key's body): it belongs to the field above.
      if (current) fields.set(current, `${fields.get(current)}\n${line.trim()}`);
      return;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) return;
    if (fields.size === 0) start = index + 1;
    current = line.slice(0, colon).trim().toLowerCase();
    fields.set(current, line.slice(colon + 1).trim());
  });
  flush();
  return entries;
}

function deb822Entry(fields: Map<string, string>, origin: string): SourceEntry {
  const words = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter(Boolean);
  const signedBy = fields.get("signed-by");
  return {
    types: words("types"),
    uris: words("uris"),
    suites: words("suites"),
    enabled: (fields.get("enabled") ?? "yes").toLowerCase() !== "no",
    ...(signedBy?.startsWith("/") ? { signedBy: signedBy.split(/\s+/)[0] } : {}),
    ...(fields.get("trusted")?.toLowerCase() === "yes" ? { trusted: true } : {}),
    origin,
  };
}

/** `deb [option=value ...] uri suite [component...]`, one per line. */
function parseOneLine(text: string, path: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    let line = raw.replace(/#.*$/, "").trim();
    const type = line.match(/^(\S+)\s+/);
    if (!type) return;
    line = line.slice(type[0].length);
    const options = new Map<string, string>();
    const bracket = line.match(/^\[([^\]]*)\]\s*/);
    if (bracket) {
      for (const option of bracket[1]!.trim().split(/\s+/).filter(Boolean)) {
        const eq = option.indexOf("=");
        if (eq > 0) options.set(option.slice(0, eq).toLowerCase(), option.slice(eq + 1));
      }
      line = line.slice(bracket[0].length);
    }
    const [uri, suite] = line.split(/\s+/);
    if (!uri || !suite) return;
    const signedBy = options.get("signed-by");
    entries.push({
      types: [type[1]!],
      uris: [uri],
      suites: [suite],
      enabled: true,
      ...(signedBy?.startsWith("/") ? { signedBy } : {}),
      ...(options.get("trusted") === "yes" ? { trusted: true } : {}),
      origin: `${path}:${index + 1}`,
    });
  });
  return entries;
}

/**
 * Reads the machine's apt source configuration: `<etc>/sources.list`, then
 * `<etc>/sources.list.d/*.list` and `*.sources` in name order, as apt does.
 * @returns the archives, in that order
 * @throws an Error naming where it looked when no Debian archive is configured
 */
export async function readDebianArchives(etc = "/etc/apt"): Promise<DebianArchive[]> {
  const files: AptSourceFile[] = [];
  const read = async (path: string) => {
    try {
      files.push({ path, text: await Deno.readTextFile(path) });
    } catch (error) {
      // A missing file is the usual case (sources.list is often absent); anything else is said.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  };
  await read(join(etc, "sources.list"));
  const partsDir = join(etc, "sources.list.d");
  const parts: string[] = [];
  try {
    for await (const entry of Deno.readDir(partsDir)) {
      if (/\.(list|sources)$/.test(entry.name)) parts.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const name of parts.sort()) await read(join(partsDir, name));
  const archives = debianArchives(files);
  if (archives.length === 0) {
    throw new Error(
      `no Debian archive in the machine's apt configuration (${partsDir}/*.sources URIs, ` +
        `deb lines in ${join(etc, "sources.list")} or ${partsDir}/*.list): add one ` +
        "(a local mirror works too), or set NATS_SERVER_BIN to a nats-server binary",
    );
  }
  return archives;
}
