/**
 * `deno task compile`: builds the release binaries `dist/pot-nats-<target>` from `main.ts`.
 *
 * It carries out the plan of `scripts/compile_plan.ts`: refuse when a `node_modules` would be
 * embedded, make sure a denort runtime is at hand for every target (DENORT_BIN*, or a reachable
 * download), type-check once, compile each target, and start the binary built for this machine
 * once (`--help`) to prove that it runs.
 *
 * Settings (environment): POT_NATS_COMPILE_TARGETS (comma-separated targets; default all),
 * DENORT_BIN (one target only) or DENORT_BIN_<TARGET> (per target, e.g.
 * DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU).
 *
 * Permissions: --allow-env --allow-read --allow-write=dist --allow-run --allow-net=dl.deno.land
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type CompilePlan,
  compilePlan,
  type CompileStep,
  denortUnavailableMessage,
  denortUrl,
  nodeModulesCandidates,
  strayNodeModules,
  strayNodeModulesMessage,
  targetsNeedingDownload,
} from "./compile_plan.ts";

const PROBE_TIMEOUT_MS = 5_000;

/** Raised for a condition that stops the build with a message for the operator. */
class CompileError extends Error {
  override name = "CompileError";
}

async function main(): Promise<number> {
  const repoRoot = fileURLToPath(new URL("..", import.meta.url)).replace(/\/+$/, "");
  let plan: CompilePlan;
  try {
    plan = compilePlan({ repoRoot, env: Deno.env.toObject() });
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) {
      console.error(`compile: ${error.message}`);
      return 2;
    }
    throw error;
  }
  try {
    await refuseStrayNodeModules(plan.repoRoot);
    await ensureDenortAvailable(plan);
    await Deno.mkdir(plan.outDir, { recursive: true });
    await run(plan.check);
    for (const step of plan.compiles) {
      await run(step);
      if (step.target === Deno.build.target) await smokeTest(step.output);
    }
  } catch (error) {
    if (error instanceof CompileError) {
      console.error(`compile: ${error.message}`);
      return 1;
    }
    throw error;
  }
  for (const step of plan.compiles) console.log(`compile: wrote ${step.output}`);
  return 0;
}

async function refuseStrayNodeModules(repoRoot: string): Promise<void> {
  const existing: string[] = [];
  for (const candidate of nodeModulesCandidates(repoRoot)) {
    try {
      await Deno.lstat(candidate);
      existing.push(candidate);
    } catch (error) {
      // Absent is the expected case; a directory we may not look into cannot be ruled out.
      if (error instanceof Deno.errors.NotFound) continue;
      if (
        error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
      ) {
        throw new CompileError(`cannot tell whether ${candidate} exists: ${error.message}`);
      }
      throw error;
    }
  }
  const stray = strayNodeModules(repoRoot, existing);
  if (stray.length > 0) throw new CompileError(strayNodeModulesMessage(stray));
}

/** Fails early with instructions when deno compile would have to download a runtime it cannot. */
async function ensureDenortAvailable(plan: CompilePlan): Promise<void> {
  for (const step of plan.compiles) {
    if (step.denortBin === undefined) continue;
    try {
      const info = await Deno.stat(step.denortBin);
      if (!info.isFile) {
        throw new CompileError(`denort for ${step.target} is not a file: ${step.denortBin}`);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new CompileError(`denort for ${step.target} does not exist: ${step.denortBin}`);
      }
      throw error;
    }
  }
  const missing = targetsNeedingDownload(plan);
  if (missing.length === 0) return;
  const version = Deno.version.deno;
  // One probe is enough: all runtimes come from the same host.
  const url = denortUrl(version, missing[0]!);
  let reason: string | undefined;
  try {
    const response = await fetch(url, {
      method: "HEAD",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (!response.ok) reason = `HEAD ${url} answered ${response.status}`;
  } catch (error) {
    const cause = (error as Error).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    reason = `HEAD ${url} failed: ${(error as Error).message}${detail}`;
  }
  if (reason !== undefined) {
    throw new CompileError(denortUnavailableMessage(version, missing, reason));
  }
}

async function run(step: CompileStep): Promise<void> {
  const [, ...args] = step.argv;
  console.log(`compile: ${step.description}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: step.cwd,
    env: { ...step.env },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) {
    throw new CompileError(
      `${step.description} failed (exit ${status.code}): deno ${args.join(" ")}`,
    );
  }
}

/** Starts the binary built for this machine once: a wrong denort or a broken embed shows here. */
async function smokeTest(binary: string): Promise<void> {
  const output = await new Deno.Command(binary, {
    args: ["--help"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success || !stdout.includes("pot-nats")) {
    throw new CompileError(
      `${binary} --help did not print the pot-nats help (exit ${output.code}); ` +
        `is DENORT_BIN a denort of Deno ${Deno.version.deno} rather than deno itself?\n` +
        (stdout + new TextDecoder().decode(output.stderr)).slice(0, 2000),
    );
  }
  console.log(`compile: ${binary} --help runs`);
}

if (import.meta.main) Deno.exit(await main());
