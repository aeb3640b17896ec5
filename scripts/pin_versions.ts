/**
 * Maintainer tool, after the official nats images' update.py: pins new nats-server and nats CLI
 * releases in the Dockerfile.
 *
 *     deno run -A scripts/pin_versions.ts --nats-server 2.12.5 [--natscli 0.4.0]
 *         [--sums-dir DIR] [--dockerfile PATH]
 *
 * For each release it reads `SHA256SUMS` (from the GitHub release, or with `--sums-dir` from
 * files named `nats-server-v<V>-SHA256SUMS` / `natscli-v<V>-SHA256SUMS`), takes the hashes of the
 * linux-amd64 and linux-arm64 archives, and rewrites the marked `ARG` lines of the Dockerfile.
 * When any hash is missing or malformed it fails and changes nothing.
 *
 * The pure core ({@linkcode parseSha256Sums}, {@linkcode pinFromSums},
 * {@linkcode rewriteDockerfile}, {@linkcode readPins}) does no I/O.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The release archives the image downloads. */
export type Tool = "nats-server" | "natscli";

/** The image's architectures, as Docker names them. */
export type Arch = "amd64" | "arm64";

export const TOOLS: readonly Tool[] = ["nats-server", "natscli"];
export const ARCHES: readonly Arch[] = ["amd64", "arm64"];

/** A pinned release: its version and the SHA-256 of its linux archive per architecture. */
export interface ToolPin {
  readonly version: string;
  readonly sha256: Readonly<Record<Arch, string>>;
}

/** The Dockerfile `ARG` names that hold each tool's pin. */
export const PIN_ARGS: Readonly<
  Record<Tool, { readonly version: string; readonly sha256: Readonly<Record<Arch, string>> }>
> = {
  "nats-server": {
    version: "NATS_SERVER_VERSION",
    sha256: { amd64: "NATS_SERVER_SHA256_AMD64", arm64: "NATS_SERVER_SHA256_ARM64" },
  },
  natscli: {
    version: "NATSCLI_VERSION",
    sha256: { amd64: "NATSCLI_SHA256_AMD64", arm64: "NATSCLI_SHA256_ARM64" },
  },
};

/**
 * Comment lines starting with this prefix plus `(<tool>):` mark a pin that was entered by hand,
 * not from the release's SHA256SUMS. Rewriting that tool's pin removes them.
 */
export const UNCONFIRMED_PREFIX = "# UNCONFIRMED";

/** A SHA-256 the update tool writes when it cannot know the real one: the build fails on it. */
export const PLACEHOLDER_SHA256 = "0".repeat(64);

const SHA256 = /^[0-9a-f]{64}$/;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** A pin that cannot be made safely; nothing was changed. */
export class PinError extends Error {
  override name = "PinError";
}

/** Returns true for a lowercase 64-digit hex SHA-256 that is not the placeholder. */
export function isSha256(value: string): boolean {
  return SHA256.test(value) && value !== PLACEHOLDER_SHA256;
}

/** Returns true for a release version such as `2.12.4` or `2.12.0-RC.1` (no leading `v`). */
export function isVersion(value: string): boolean {
  return VERSION.test(value);
}

/**
 * Normalizes a version given on the command line: one leading `v` is dropped.
 *
 * @throws {RangeError} when the rest is not a release version.
 */
export function normalizeVersion(value: string, flag: string): string {
  const version = value.startsWith("v") ? value.slice(1) : value;
  if (!isVersion(version)) {
    throw new RangeError(`${flag} must be a release version such as 2.12.5, got "${value}"`);
  }
  return version;
}

/** `nats-server-v2.12.4-linux-amd64.tar.gz` / `nats-0.4.0-linux-arm64.zip`. */
export function releaseAssetName(tool: Tool, version: string, arch: Arch): string {
  return tool === "nats-server"
    ? `nats-server-v${version}-linux-${arch}.tar.gz`
    : `nats-${version}-linux-${arch}.zip`;
}

/** The URL of a release's SHA256SUMS on GitHub. */
export function sumsUrl(tool: Tool, version: string): string {
  return `https://github.com/nats-io/${tool}/releases/download/v${version}/SHA256SUMS`;
}

/** The file name `--sums-dir` looks for: `nats-server-v2.12.5-SHA256SUMS`. */
export function sumsFileName(tool: Tool, version: string): string {
  return `${tool}-v${version}-SHA256SUMS`;
}

/**
 * Parses a `sha256sum`-style listing: `<64 hex>  <file>` or `<64 hex> *<file>` per line.
 *
 * @returns file name -> lowercase hash.
 * @throws {PinError} on any line that is not such an entry, on a file listed twice with
 *   different hashes, and on a listing without entries.
 */
export function parseSha256Sums(text: string, source = "SHA256SUMS"): Map<string, string> {
  const sums = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const match = /^([0-9A-Fa-f]{64})[ \t]+\*?(\S(?:.*\S)?)[ \t]*$/.exec(line);
    if (!match) {
      throw new PinError(
        `${source} line ${index + 1} is not "<sha256>  <file>": ${JSON.stringify(line)}`,
      );
    }
    const hash = match[1]!.toLowerCase();
    const file = match[2]!;
    const previous = sums.get(file);
    if (previous !== undefined && previous !== hash) {
      throw new PinError(`${source} lists ${file} twice with different hashes`);
    }
    sums.set(file, hash);
  });
  if (sums.size === 0) throw new PinError(`${source} has no entries`);
  return sums;
}

/**
 * Picks a release's linux-amd64 and linux-arm64 archive hashes out of its SHA256SUMS.
 *
 * @throws {PinError} naming every archive that is missing, and on a placeholder hash.
 */
export function pinFromSums(
  tool: Tool,
  version: string,
  sums: ReadonlyMap<string, string>,
  source = sumsFileName(tool, version),
): ToolPin {
  if (!isVersion(version)) {
    throw new PinError(`${tool} version "${version}" is not a release version`);
  }
  const missing: string[] = [];
  const sha256 = {} as Record<Arch, string>;
  for (const arch of ARCHES) {
    const name = releaseAssetName(tool, version, arch);
    const hash = sums.get(name);
    if (hash === undefined) {
      missing.push(name);
    } else if (!isSha256(hash)) {
      throw new PinError(`${source} gives ${name} the unusable hash "${hash}"`);
    } else {
      sha256[arch] = hash;
    }
  }
  if (missing.length > 0) {
    throw new PinError(`${source} has no hash for ${missing.join(" and ")}`);
  }
  return { version, sha256 };
}

interface ArgLine {
  readonly index: number;
  readonly value: string;
}

/** Finds the single `ARG NAME=value` line (declarations without `=` are ignored). */
function findArg(lines: readonly string[], name: string): ArgLine {
  const pattern = new RegExp(`^ARG[ \\t]+${name}=(\\S*)[ \\t]*$`);
  const found: ArgLine[] = [];
  lines.forEach((line, index) => {
    const match = pattern.exec(line);
    if (match) found.push({ index, value: match[1]! });
  });
  if (found.length !== 1) {
    throw new PinError(
      found.length === 0
        ? `the Dockerfile has no "ARG ${name}=..." line to pin`
        : `the Dockerfile has ${found.length} "ARG ${name}=..." lines; exactly one is expected`,
    );
  }
  return found[0]!;
}

/**
 * Reads the current pins from the Dockerfile's marked ARG lines.
 *
 * @returns each tool's pin as written (placeholders included; check with {@linkcode isSha256}).
 * @throws {PinError} when an ARG line is missing or appears more than once.
 */
export function readPins(dockerfile: string): Record<Tool, ToolPin> {
  const lines = dockerfile.split("\n");
  const read = (tool: Tool): ToolPin => {
    const args = PIN_ARGS[tool];
    return {
      version: findArg(lines, args.version).value,
      sha256: {
        amd64: findArg(lines, args.sha256.amd64).value,
        arm64: findArg(lines, args.sha256.arm64).value,
      },
    };
  };
  return { "nats-server": read("nats-server"), natscli: read("natscli") };
}

/** The tools whose pins carry `# UNCONFIRMED(<tool>):` comment lines. */
export function unconfirmedTools(dockerfile: string): Tool[] {
  return TOOLS.filter((tool) =>
    dockerfile.split("\n").some((line) => line.startsWith(`${UNCONFIRMED_PREFIX}(${tool}):`))
  );
}

/**
 * Rewrites the pinned versions and hashes of the given tools; every other line is kept as is,
 * except the tool's `# UNCONFIRMED(<tool>):` lines, which are dropped.
 *
 * @returns the new Dockerfile text (equal to the input when nothing changes).
 * @throws {PinError} when a pin is malformed or an ARG line is missing or ambiguous.
 */
export function rewriteDockerfile(
  dockerfile: string,
  pins: Readonly<Partial<Record<Tool, ToolPin>>>,
): string {
  const lines = dockerfile.split("\n");
  const replacements = new Map<number, string>();
  const dropped = new Set<number>();
  for (const tool of TOOLS) {
    const pin = pins[tool];
    if (pin === undefined) continue;
    if (!isVersion(pin.version)) {
      throw new PinError(`${tool} version "${pin.version}" is not a release version`);
    }
    const args = PIN_ARGS[tool];
    replacements.set(findArg(lines, args.version).index, `ARG ${args.version}=${pin.version}`);
    for (const arch of ARCHES) {
      const hash = pin.sha256[arch];
      if (!isSha256(hash)) {
        throw new PinError(`${tool} ${pin.version} linux-${arch} hash "${hash}" is not a SHA-256`);
      }
      replacements.set(findArg(lines, args.sha256[arch]).index, `ARG ${args.sha256[arch]}=${hash}`);
    }
    lines.forEach((line, index) => {
      if (line.startsWith(`${UNCONFIRMED_PREFIX}(${tool}):`)) dropped.add(index);
    });
  }
  return lines
    .flatMap((line, index) => dropped.has(index) ? [] : [replacements.get(index) ?? line])
    .join("\n");
}

/** What changed between two pin sets, one line per changed ARG, for the operator. */
export function describeChanges(
  before: Readonly<Record<Tool, ToolPin>>,
  after: Readonly<Partial<Record<Tool, ToolPin>>>,
): string[] {
  const changes: string[] = [];
  for (const tool of TOOLS) {
    const next = after[tool];
    if (next === undefined) continue;
    const args = PIN_ARGS[tool];
    const prev = before[tool];
    if (prev.version !== next.version) {
      changes.push(`${args.version}: ${prev.version} -> ${next.version}`);
    }
    for (const arch of ARCHES) {
      if (prev.sha256[arch] !== next.sha256[arch]) {
        changes.push(`${args.sha256[arch]}: ${prev.sha256[arch]} -> ${next.sha256[arch]}`);
      }
    }
  }
  return changes;
}

const USAGE =
  `usage: deno run -A scripts/pin_versions.ts [--nats-server VERSION] [--natscli VERSION]
                                     [--sums-dir DIR] [--dockerfile PATH]

Pins nats-server and/or natscli releases in the Dockerfile from each release's SHA256SUMS.
--sums-dir reads <tool>-v<VERSION>-SHA256SUMS files from DIR instead of GitHub.
Nothing is changed unless every hash is present and well-formed.`;

const FETCH_TIMEOUT_MS = 30_000;

async function readSums(tool: Tool, version: string, sumsDir: string | undefined): Promise<string> {
  if (sumsDir !== undefined) {
    const path = `${sumsDir.replace(/\/+$/, "")}/${sumsFileName(tool, version)}`;
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new PinError(`cannot read ${path}: ${(error as Error).message}`);
    }
  }
  const url = sumsUrl(tool, version);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    throw new PinError(`cannot fetch ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new PinError(`cannot fetch ${url}: HTTP ${response.status}`);
  }
  return await response.text();
}

/** Replaces the file in one rename so that a failure leaves the old file whole. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const temp = await Deno.makeTempFile({ dir, prefix: ".pin_versions-" });
  try {
    const mode = (await Deno.stat(path)).mode;
    await Deno.writeTextFile(temp, text);
    if (mode !== null) await Deno.chmod(temp, mode & 0o777);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {/* already renamed or never written: nothing to undo */});
    throw error;
  }
}

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({
      args,
      options: {
        "nats-server": { type: "string" },
        natscli: { type: "string" },
        "sums-dir": { type: "string" },
        dockerfile: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const requested: Partial<Record<Tool, string>> = {};
  try {
    if (options["nats-server"] !== undefined) {
      requested["nats-server"] = normalizeVersion(options["nats-server"], "--nats-server");
    }
    if (options.natscli !== undefined) {
      requested.natscli = normalizeVersion(options.natscli, "--natscli");
    }
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  if (Object.keys(requested).length === 0) {
    console.error(`name at least one release to pin\n\n${USAGE}`);
    return 2;
  }
  const dockerfilePath = options.dockerfile ??
    new URL("../Dockerfile", import.meta.url).pathname;

  try {
    const pins: Partial<Record<Tool, ToolPin>> = {};
    for (const tool of TOOLS) {
      const version = requested[tool];
      if (version === undefined) continue;
      const source = options["sums-dir"] !== undefined
        ? sumsFileName(tool, version)
        : sumsUrl(tool, version);
      const text = await readSums(tool, version, options["sums-dir"]);
      pins[tool] = pinFromSums(tool, version, parseSha256Sums(text, source), source);
    }
    const before = await Deno.readTextFile(dockerfilePath);
    const after = rewriteDockerfile(before, pins);
    if (after === before) {
      console.log(`${dockerfilePath} already pins these releases; nothing changed`);
      return 0;
    }
    const changes = describeChanges(readPins(before), pins);
    await writeAtomically(dockerfilePath, after);
    console.log(`updated ${dockerfilePath}:`);
    for (const change of changes) console.log(`  ${change}`);
    if (changes.length === 0) console.log("  (hand-entered pins confirmed from SHA256SUMS)");
    return 0;
  } catch (error) {
    if (error instanceof PinError) {
      console.error(`pin_versions: ${error.message}; the Dockerfile was not changed`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
