/**
 * The layout's rules, checked: `src/` is grouped by feature; imports point one way (a folder of
 * `src/` imports only from itself and the folders below it); nothing imports from `tests/`;
 * nothing in `src/` imports from `scripts/` or `dev/` (the development fixtures that tests and
 * scripts share), and `dev/` imports nothing from `scripts/`; no module in `src/` is much over
 * 400 lines.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Lowest first: each folder may import from the folders before it, never from those after. */
const LAYERS = [
  "shared",
  "report",
  "cli",
  "jwt",
  "config",
  "server",
  "mirror",
  "purge",
  "admin",
  "watch",
  "http",
] as const;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Repo-relative paths of the modules `file` imports by relative specifier. */
function relativeImports(file: string): string[] {
  const text = Deno.readTextFileSync(join(ROOT, file));
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)];
  return specifiers.map((match) => relative(ROOT, resolve(ROOT, dirname(file), match[1]!)));
}

function layerOf(file: string): number {
  const folder = file.split("/")[1] ?? "";
  return LAYERS.indexOf(folder as typeof LAYERS[number]);
}

const isTest = (file: string) => file.endsWith("_test.ts");

Deno.test("src/ holds only the feature folders, each module in one of them", () => {
  const stray = tsFiles("src").filter((file) => layerOf(file) === -1 && !isTest(file));
  assert.deepEqual(stray, []);
});

Deno.test("imports point one way: a folder never imports from a folder above it", () => {
  const violations = tsFiles("src").filter((file) => !isTest(file)).flatMap((file) =>
    relativeImports(file)
      .filter((target) => !target.startsWith("src/") || layerOf(target) > layerOf(file))
      .map((target) => `${file} imports ${target}`)
  );
  assert.deepEqual(violations, []);
});

Deno.test("tests/ is imported by no one; dev/ only by scripts and tests; scripts/ not by dev/", () => {
  const violations = [...tsFiles("src"), ...tsFiles("scripts"), ...tsFiles("dev")]
    .filter((file) => !isTest(file))
    .flatMap((file) =>
      relativeImports(file)
        .filter((target) =>
          target.startsWith("tests/") ||
          (file.startsWith("src/") &&
            (target.startsWith("dev/") || target.startsWith("scripts/"))) ||
          (file.startsWith("dev/") && target.startsWith("scripts/"))
        )
        .map((target) => `${file} imports ${target}`)
    );
  assert.deepEqual(violations, []);
});

/** "About 400": the admin connection's state machine is the one module that needs a little more. */
const MAX_LINES = 440;

Deno.test(`no module in src/ is over ${MAX_LINES} lines`, () => {
  const long = tsFiles("src").filter((file) => !isTest(file)).map((file) => ({
    file,
    lines: Deno.readTextFileSync(join(ROOT, file)).split("\n").length,
  })).filter(({ lines }) => lines > MAX_LINES).map(({ file, lines }) => `${file}: ${lines}`);
  assert.deepEqual(long, []);
});
