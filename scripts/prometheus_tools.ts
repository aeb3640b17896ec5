/**
 * Prometheus's own tools for the tests of the supervisor's `/metrics`: `promtool` (`promtool check
 * metrics` lints an exposition read on stdin) and the `prometheus` server (a real scrape). Found on
 * PATH or in the project's cache (`.cache/prometheus/<package>/`), else fetched from Debian sid
 * (packages `promtool` and `prometheus`) without root, the way `nats_server.ts` fetches nats-server.
 *
 * Run directly, it prints the paths: `deno run -A scripts/prometheus_tools.ts`.
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../src/shared/path_exists.ts";
import { downloadDebianPackage, lookUpDebianPackage } from "./debian_package.ts";
import { REPO_ROOT } from "./nats_server.ts";

const CACHE_DIR = join(REPO_ROOT, ".cache", "prometheus");
const SUITE = "sid";

export type PrometheusTool = "promtool" | "prometheus";

/**
 * @returns the path of a runnable `tool`
 * @throws an Error saying what was tried when none is at hand and the fetch fails
 */
export async function resolvePrometheusTool(
  tool: PrometheusTool,
  log: (line: string) => void = () => {},
): Promise<string> {
  if (await runs(tool)) return tool;
  const cached = join(CACHE_DIR, tool, tool);
  if (await runs(cached)) return cached;
  log(`${tool}: fetching from Debian ${SUITE}`);
  const pkg = await lookUpDebianPackage(tool, SUITE, { cacheDir: CACHE_DIR, log });
  const { root, staging } = await downloadDebianPackage(pkg);
  try {
    const bin = join(root, "usr", "bin", tool);
    if (!(await pathExists(bin))) {
      throw new Error(
        `the ${SUITE} package ${tool} ${pkg.packageVersion} holds no usr/bin/${tool}`,
      );
    }
    await Deno.mkdir(join(CACHE_DIR, tool), { recursive: true });
    const temp = `${cached}.${crypto.randomUUID()}`;
    await Deno.copyFile(bin, temp);
    await Deno.chmod(temp, 0o755);
    await Deno.rename(temp, cached);
    log(`${tool}: using ${cached} (${pkg.packageVersion})`);
    return cached;
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

async function runs(bin: string): Promise<boolean> {
  try {
    return (await new Deno.Command(bin, { args: ["--version"], stdin: "null" }).output()).success;
  } catch {
    return false; // missing or not executable: fetch it
  }
}

if (import.meta.main) {
  for (const tool of ["promtool", "prometheus"] as const) {
    console.log(await resolvePrometheusTool(tool, (line) => console.error(line)));
  }
}
