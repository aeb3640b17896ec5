/**
 * What `deno task compile` runs, as data: the `deno check` step, one `deno compile` per target with
 * the permissions baked into the release binary, and the guards that must hold first (no
 * `node_modules` that compile would embed, a denort runtime for every target).
 *
 * Everything here is pure; `scripts/compile.ts` carries the plan out.
 *
 * @module
 */

/** The release targets, in the order they are built. */
export const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;

/** A Deno target triple that pot-nats is released for. */
export type CompileTarget = typeof TARGETS[number];

/** The entry point compiled into the binary, relative to the repository root. */
export const ENTRYPOINT = "main.ts";

/** Where binaries are written, relative to the repository root. */
export const OUT_DIR = "dist";

/** Environment variable that restricts the build to some targets (comma separated). */
export const TARGETS_ENV = "POT_NATS_COMPILE_TARGETS";

/**
 * Permissions baked into the release binary. A compiled binary never prompts: whatever is not
 * granted here fails at run time, so each entry says why it is granted and why it is not scoped.
 *
 * The supervisor's job is to spawn nats-server, and a spawned process runs outside Deno's sandbox
 * with the full rights of the container user. With `--allow-run` granted, scoping the other
 * permissions would not contain anything; the container (non-root uid 10000, read-only root
 * filesystem, only the jwt and data volumes writable) is the real boundary. The list is still
 * explicit rather than `-A` so that it documents what the program does and keeps `--allow-ffi`
 * and `--allow-import` off.
 */
export const RUNTIME_PERMISSIONS: readonly string[] = [
  // Unscoped: NATS_SERVER_BIN is a run-time setting (default /home/runner/bin/nats-server, a bare
  // `nats-server` resolved on PATH for local use) and `--allow-run=<path>` would pin the path
  // chosen at compile time. `ChildProcess.kill()` would work with a scoped grant, `Deno.kill(pid)`
  // would not.
  "--allow-run",
  // Unscoped: NATS_CONF, NATS_ACCOUNTS, NATS_SSL_DIR, NATS_CREDS_DIR, NATS_JWT_MOUNT_DIR,
  // NATS_JETSTREAM_STORE_DIR and the POT_NATS_CLIENT_TLS_* files are run-time settings that
  // operators point anywhere; a grant scoped to the defaults would turn every override into
  // a permission error.
  "--allow-read",
  // Unscoped for the same reason: NATS_JWT_DIR (the resolver dir the supervisor mirrors into)
  // is a run-time setting.
  "--allow-write",
  // Unscoped: the supervisor reads its settings from the environment (`Deno.env.toObject()`)
  // and passes the whole environment on to nats-server, whose config may use `$VAR`s.
  "--allow-env",
  // Unscoped: NATS_CLIENT_URL is a run-time setting (a host name is needed for TLS), and the
  // NATS client follows the cluster URLs a server advertises. The monitor checks go to
  // 127.0.0.1:NATS_MONITOR_PORT.
  "--allow-net",
  // `--allow-sys` is not granted: nothing in the supervisor asks for host information. If a
  // module starts calling `Deno.hostname()` or `Deno.osRelease()`, grant that one name, e.g.
  // `--allow-sys=hostname`.
];

/**
 * V8 flags baked into the release binary. `--max-semi-space-size=1` (MiB) caps the young
 * generation, which V8 otherwise grows to 16 MiB per semi-space on an allocation burst (a pass
 * over 10,000 files) and never gives back. Measured with `deno task bench --only v8` (same
 * machine, `DENO_V8_FLAGS`, which a compiled binary reads the same way): idle RSS with 3 accounts
 * 79 -> 71 MiB, with 10,000 accounts after start 197 -> 147 MiB, start of 10,000 accounts no
 * slower, and no change in the reaction to a JWT swap. `--lite-mode` (no optimizing compiler)
 * would save another ~45 MiB at 10,000 accounts but slows the start of 10,000 by ~1.5 s.
 */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=1"];

/** Flags of every `deno compile` run besides target, output and permissions. */
export const COMPILE_FLAGS: readonly string[] = [
  `--v8-flags=${V8_FLAGS.join(",")}`,
  // A compiled binary writes a V8 code cache under $HOME/.cache/deno unless told not to; the
  // image runs with a read-only root filesystem.
  "--no-code-cache",
  // The plan type-checks once with `deno check` before compiling any target.
  "--no-check",
  // A release is built from the locked dependency versions or not at all.
  "--frozen",
];

/** One process to run: its argv (argv[0] is "deno"), extra environment and working directory. */
export interface CompileStep {
  /** What the step does, for progress messages. */
  readonly description: string;
  /** argv[0] is the literal "deno": the executor substitutes the running Deno's path. */
  readonly argv: readonly string[];
  /** Variables set for this step on top of the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** One `deno compile` run. */
export interface TargetStep extends CompileStep {
  readonly target: CompileTarget;
  /** Absolute path of the binary the step writes. */
  readonly output: string;
  /** The denort runtime the step uses, or undefined when deno downloads it. */
  readonly denortBin: string | undefined;
}

/** Everything `deno task compile` does, in order. */
export interface CompilePlan {
  readonly repoRoot: string;
  readonly outDir: string;
  readonly check: CompileStep;
  readonly compiles: readonly TargetStep[];
}

/** Options of {@linkcode compilePlan}. */
export interface CompilePlanOptions {
  /** Absolute path of the repository root (where deno.json is). */
  readonly repoRoot: string;
  /** Targets to build; defaults to {@linkcode TARGETS}, or to POT_NATS_COMPILE_TARGETS when set. */
  readonly targets?: readonly string[];
  /** The environment to read DENORT_BIN* and POT_NATS_COMPILE_TARGETS from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** `DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU` for `aarch64-unknown-linux-gnu`. */
export function denortEnvName(target: CompileTarget): string {
  return `DENORT_BIN_${target.toUpperCase().replaceAll("-", "_")}`;
}

/** Returns true when `value` is one of {@linkcode TARGETS}. */
export function isCompileTarget(value: string): value is CompileTarget {
  return (TARGETS as readonly string[]).includes(value);
}

/**
 * Parses a comma-separated target list such as POT_NATS_COMPILE_TARGETS.
 *
 * @returns the targets in the given order, without duplicates.
 * @throws {RangeError} when the list is empty or names an unknown target.
 */
export function parseTargets(value: string, setting = TARGETS_ENV): CompileTarget[] {
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  if (names.length === 0) {
    throw new RangeError(
      `${setting} must name at least one of ${TARGETS.join(", ")}, got "${value}"`,
    );
  }
  const targets: CompileTarget[] = [];
  for (const name of names) {
    if (!isCompileTarget(name)) {
      throw new RangeError(
        `${setting} must name targets from ${TARGETS.join(", ")}, got "${name}"`,
      );
    }
    if (!targets.includes(name)) targets.push(name);
  }
  return targets;
}

/**
 * Builds the compile plan.
 *
 * DENORT_BIN names one runtime, so it is honoured only when exactly one target is built; for
 * several targets set `DENORT_BIN_<TARGET>` (see {@linkcode denortEnvName}) per target. Each
 * compile step gets the runtime for its own target as DENORT_BIN.
 *
 * @returns the steps to run, in order.
 * @throws {RangeError} for an unknown target, or DENORT_BIN set while several targets are built.
 * @throws {TypeError} when repoRoot is not an absolute path.
 */
export function compilePlan(options: CompilePlanOptions): CompilePlan {
  const { repoRoot } = options;
  const env = options.env ?? {};
  if (!repoRoot.startsWith("/")) {
    throw new TypeError(`repoRoot must be an absolute path, got "${repoRoot}"`);
  }
  const fromEnv = env[TARGETS_ENV];
  const targets = options.targets !== undefined
    ? parseTargets(options.targets.join(","), "targets")
    : fromEnv !== undefined && fromEnv.trim() !== ""
    ? parseTargets(fromEnv)
    : [...TARGETS];

  const sharedDenort = nonEmpty(env["DENORT_BIN"]);
  if (sharedDenort !== undefined && targets.length > 1) {
    throw new RangeError(
      `DENORT_BIN names one denort runtime but ${targets.length} targets are being built ` +
        `(${targets.join(", ")}): build one target (${TARGETS_ENV}=<target>) or set ` +
        targets.map(denortEnvName).join(" and ") + " instead",
    );
  }

  const root = repoRoot.replace(/\/+$/, "") || "/";
  const outDir = joinPath(root, OUT_DIR);
  const check: CompileStep = {
    description: `type-check ${ENTRYPOINT}`,
    argv: ["deno", "check", "--frozen", ENTRYPOINT],
    env: {},
    cwd: root,
  };
  const compiles = targets.map((target): TargetStep => {
    const denortBin = nonEmpty(env[denortEnvName(target)]) ?? sharedDenort;
    const output = joinPath(outDir, binaryName(target));
    return {
      description: `compile ${ENTRYPOINT} for ${target}`,
      target,
      output,
      denortBin,
      argv: [
        "deno",
        "compile",
        "--target",
        target,
        ...COMPILE_FLAGS,
        "--output",
        output,
        ...RUNTIME_PERMISSIONS,
        ENTRYPOINT,
      ],
      env: denortBin === undefined ? {} : { DENORT_BIN: denortBin },
      cwd: root,
    };
  });
  return { repoRoot: root, outDir, check, compiles };
}

/** `pot-nats-x86_64-unknown-linux-gnu`: the file name of a release binary. */
export function binaryName(target: CompileTarget): string {
  return `pot-nats-${target}`;
}

/**
 * Where the denort runtime of a Deno release is downloaded from by `deno compile`.
 *
 * @returns the URL of `denort-<target>.zip` for that Deno version.
 */
export function denortUrl(denoVersion: string, target: CompileTarget): string {
  return `https://dl.deno.land/release/v${denoVersion}/denort-${target}.zip`;
}

/** The targets of a plan for which deno compile would have to download denort. */
export function targetsNeedingDownload(plan: CompilePlan): CompileTarget[] {
  return plan.compiles.filter((step) => step.denortBin === undefined).map((step) => step.target);
}

/**
 * The message shown when denort cannot be downloaded for some targets.
 *
 * @returns operator-facing text naming the targets, the URL tried and how to provide denort.
 */
export function denortUnavailableMessage(
  denoVersion: string,
  targets: readonly CompileTarget[],
  reason: string,
): string {
  const lines = [
    `The denort runtime cannot be downloaded here (${reason}), and deno compile needs one per ` +
    `target. Missing: ${targets.join(", ")}.`,
    `Provide it by hand: take denort-<target>.zip from the Deno v${denoVersion} release ` +
    `(https://github.com/denoland/deno/releases/tag/v${denoVersion}; the same version as the deno ` +
    `that compiles), unzip it, and point at the file:`,
  ];
  for (const target of targets) {
    lines.push(
      `  ${denortEnvName(target)}=/path/to/denort   (from denort-${target}.zip, ` +
        `${denortUrl(denoVersion, target)})`,
    );
  }
  lines.push(
    `or build one target at a time: ${TARGETS_ENV}=<target> DENORT_BIN=/path/to/denort deno task compile`,
  );
  return lines.join("\n");
}

/**
 * Every `node_modules` directory that `deno compile` run in repoRoot could pick up: the one in
 * the repository and one in each parent folder, up to the filesystem root.
 *
 * @returns absolute paths, innermost first.
 */
export function nodeModulesCandidates(repoRoot: string): string[] {
  const parts = repoRoot.split("/").filter((part) => part !== "");
  const candidates: string[] = [];
  for (let depth = parts.length; depth >= 0; depth--) {
    candidates.push("/" + [...parts.slice(0, depth), "node_modules"].join("/"));
  }
  return candidates;
}

/**
 * The `node_modules` directories among `existingPaths` that compile would embed.
 *
 * @returns the offending paths, innermost first; empty when the tree is clean.
 */
export function strayNodeModules(repoRoot: string, existingPaths: Iterable<string>): string[] {
  const existing = new Set([...existingPaths].map((path) => path.replace(/\/+$/, "")));
  return nodeModulesCandidates(repoRoot).filter((candidate) => existing.has(candidate));
}

/** The message shown when a stray node_modules was found. */
export function strayNodeModulesMessage(paths: readonly string[]): string {
  return [
    `Refusing to compile: deno compile would embed ${paths.join(" and ")} in the binary.`,
    `Remove it, or compile from a clean checkout that has no node_modules in it or above it ` +
    `(deno.json keeps "nodeModulesDir": "none", so pot-nats itself never needs one).`,
  ].join("\n");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}
