import assert from "node:assert/strict";
import {
  binaryName,
  compilePlan,
  denortEnvName,
  denortUnavailableMessage,
  denortUrl,
  nodeModulesCandidates,
  parseTargets,
  RUNTIME_PERMISSIONS,
  strayNodeModules,
  TARGETS,
  targetsNeedingDownload,
} from "./compile_plan.ts";

const ROOT = "/work/main";

Deno.test("compile plan builds both linux targets into dist by default", () => {
  const plan = compilePlan({ repoRoot: ROOT });
  assert.deepEqual(plan.compiles.map((step) => step.target), [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
  ]);
  assert.deepEqual(plan.compiles.map((step) => step.output), [
    "/work/main/dist/pot-nats-x86_64-unknown-linux-gnu",
    "/work/main/dist/pot-nats-aarch64-unknown-linux-gnu",
  ]);
  assert.equal(plan.outDir, "/work/main/dist");
  for (const step of [plan.check, ...plan.compiles]) assert.equal(step.cwd, ROOT);
});

Deno.test("compile plan type-checks main.ts once before any compile", () => {
  const plan = compilePlan({ repoRoot: ROOT });
  assert.deepEqual(plan.check.argv, ["deno", "check", "--frozen", "main.ts"]);
});

Deno.test("compile argv carries target, output, no code cache and the permissions", async (t) => {
  const [step] = compilePlan({ repoRoot: ROOT, targets: ["aarch64-unknown-linux-gnu"] }).compiles;
  assert.ok(step);
  const argv = step.argv;

  await t.step("starts with deno compile and ends with the entry point", () => {
    assert.deepEqual(argv.slice(0, 2), ["deno", "compile"]);
    assert.equal(argv.at(-1), "main.ts");
  });

  await t.step("names the target and the output after their flags", () => {
    assert.equal(argv[argv.indexOf("--target") + 1], "aarch64-unknown-linux-gnu");
    assert.equal(argv[argv.indexOf("--output") + 1], step.output);
  });

  await t.step("disables the V8 code cache for a read-only root filesystem", () => {
    assert.ok(argv.includes("--no-code-cache"));
  });

  await t.step("bakes in the measured V8 flags", () => {
    assert.ok(argv.includes("--v8-flags=--max-semi-space-size=1"));
  });

  await t.step("uses the lockfile as is and skips the second type-check", () => {
    assert.ok(argv.includes("--frozen"));
    assert.ok(argv.includes("--no-check"));
  });

  await t.step("grants run, read, write, env and net, and nothing broader", () => {
    for (
      const flag of ["--allow-run", "--allow-read", "--allow-write", "--allow-env", "--allow-net"]
    ) {
      assert.ok(argv.includes(flag), `${flag} missing`);
    }
    const granted = argv.filter((arg) => arg.startsWith("--allow-") || arg === "-A");
    assert.deepEqual(granted, [...RUNTIME_PERMISSIONS]);
    for (const absent of ["-A", "--allow-all", "--allow-ffi", "--allow-import", "--allow-sys"]) {
      assert.ok(!argv.some((arg) => arg === absent || arg.startsWith(`${absent}=`)), absent);
    }
  });

  await t.step("puts every flag before the entry point", () => {
    assert.equal(argv.indexOf("main.ts"), argv.length - 1);
  });
});

Deno.test("POT_NATS_COMPILE_TARGETS restricts the build to the named targets", () => {
  const plan = compilePlan({
    repoRoot: ROOT,
    env: { POT_NATS_COMPILE_TARGETS: "aarch64-unknown-linux-gnu" },
  });
  assert.deepEqual(plan.compiles.map((step) => step.target), ["aarch64-unknown-linux-gnu"]);
});

Deno.test("an explicit targets option wins over POT_NATS_COMPILE_TARGETS", () => {
  const plan = compilePlan({
    repoRoot: ROOT,
    targets: ["x86_64-unknown-linux-gnu"],
    env: { POT_NATS_COMPILE_TARGETS: "aarch64-unknown-linux-gnu" },
  });
  assert.deepEqual(plan.compiles.map((step) => step.target), ["x86_64-unknown-linux-gnu"]);
});

Deno.test("an empty POT_NATS_COMPILE_TARGETS means all targets", () => {
  const plan = compilePlan({ repoRoot: ROOT, env: { POT_NATS_COMPILE_TARGETS: " " } });
  assert.equal(plan.compiles.length, TARGETS.length);
});

Deno.test("target lists are trimmed, deduplicated and validated", async (t) => {
  await t.step("accepts spaces and repeats", () => {
    assert.deepEqual(
      parseTargets(
        " aarch64-unknown-linux-gnu , aarch64-unknown-linux-gnu,x86_64-unknown-linux-gnu",
      ),
      ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"],
    );
  });
  await t.step("rejects a Docker arch name with the setting and value in the message", () => {
    assert.throws(
      () => compilePlan({ repoRoot: ROOT, env: { POT_NATS_COMPILE_TARGETS: "arm64" } }),
      (error: unknown) =>
        error instanceof RangeError && /POT_NATS_COMPILE_TARGETS/.test(error.message) &&
        /"arm64"/.test(error.message),
    );
  });
  await t.step("rejects a target pot-nats is not released for", () => {
    assert.throws(() => parseTargets("x86_64-apple-darwin"), RangeError);
  });
  await t.step("rejects a list of only commas", () => {
    assert.throws(() => parseTargets(",,"), RangeError);
  });
});

Deno.test("DENORT_BIN is passed to the compile step of a single target", () => {
  const plan = compilePlan({
    repoRoot: ROOT,
    env: { POT_NATS_COMPILE_TARGETS: "x86_64-unknown-linux-gnu", DENORT_BIN: "/opt/denort" },
  });
  const [step] = plan.compiles;
  assert.deepEqual(step?.env, { DENORT_BIN: "/opt/denort" });
  assert.equal(step?.denortBin, "/opt/denort");
  assert.deepEqual(plan.check.env, {});
  assert.deepEqual(targetsNeedingDownload(plan), []);
});

Deno.test("DENORT_BIN with several targets is refused, naming the per-target variables", () => {
  assert.throws(
    () => compilePlan({ repoRoot: ROOT, env: { DENORT_BIN: "/opt/denort" } }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message.includes("DENORT_BIN_X86_64_UNKNOWN_LINUX_GNU") &&
      error.message.includes("DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU"),
  );
});

Deno.test("per-target DENORT_BIN_<TARGET> reaches only its own compile step as DENORT_BIN", () => {
  const plan = compilePlan({
    repoRoot: ROOT,
    env: { DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU: "/opt/denort-arm64" },
  });
  const [x86, arm] = plan.compiles;
  assert.deepEqual(x86?.env, {});
  assert.deepEqual(arm?.env, { DENORT_BIN: "/opt/denort-arm64" });
  assert.deepEqual(targetsNeedingDownload(plan), ["x86_64-unknown-linux-gnu"]);
});

Deno.test("a per-target runtime wins over DENORT_BIN, and empty values count as unset", () => {
  const plan = compilePlan({
    repoRoot: ROOT,
    env: {
      POT_NATS_COMPILE_TARGETS: "x86_64-unknown-linux-gnu",
      DENORT_BIN: "/opt/shared",
      DENORT_BIN_X86_64_UNKNOWN_LINUX_GNU: "/opt/x86",
    },
  });
  assert.deepEqual(plan.compiles[0]?.env, { DENORT_BIN: "/opt/x86" });
  const blank = compilePlan({ repoRoot: ROOT, env: { DENORT_BIN: "" } });
  assert.equal(blank.compiles.length, 2);
  assert.deepEqual(targetsNeedingDownload(blank), [...TARGETS]);
});

Deno.test("denort names and URLs follow the Deno release layout", () => {
  assert.equal(denortEnvName("x86_64-unknown-linux-gnu"), "DENORT_BIN_X86_64_UNKNOWN_LINUX_GNU");
  assert.equal(
    denortUrl("2.9.6", "aarch64-unknown-linux-gnu"),
    "https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip",
  );
  assert.equal(binaryName("aarch64-unknown-linux-gnu"), "pot-nats-aarch64-unknown-linux-gnu");
});

Deno.test("the denort message says it cannot be downloaded and how to provide it", () => {
  const message = denortUnavailableMessage("2.9.6", ["aarch64-unknown-linux-gnu"], "dns error");
  assert.match(message, /denort runtime cannot be downloaded here \(dns error\)/);
  assert.match(message, /denort-aarch64-unknown-linux-gnu\.zip/);
  assert.match(message, /DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU=\/path\/to\/denort/);
  assert.match(message, /DENORT_BIN=\/path\/to\/denort deno task compile/);
  assert.match(message, /v2\.9\.6/);
});

Deno.test("repoRoot must be absolute and a trailing slash is ignored", () => {
  assert.throws(() => compilePlan({ repoRoot: "work/main" }), TypeError);
  assert.equal(compilePlan({ repoRoot: "/work/main/" }).outDir, "/work/main/dist");
  assert.equal(compilePlan({ repoRoot: "/" }).outDir, "/dist");
});

Deno.test("node_modules candidates cover the repo and every parent up to /", () => {
  assert.deepEqual(nodeModulesCandidates("/work/main"), [
    "/work/main/node_modules",
    "/work/node_modules",
    "/node_modules",
  ]);
  assert.deepEqual(nodeModulesCandidates("/"), ["/node_modules"]);
});

Deno.test("stray node_modules are found in the repo or a parent, not in siblings or children", async (t) => {
  await t.step("a clean tree has none", () => {
    assert.deepEqual(strayNodeModules("/work/main", ["/work/main/src", "/tmp/node_modules"]), []);
  });
  await t.step("one in the repository", () => {
    assert.deepEqual(strayNodeModules("/work/main", ["/work/main/node_modules/"]), [
      "/work/main/node_modules",
    ]);
  });
  await t.step("one in a parent folder", () => {
    assert.deepEqual(strayNodeModules("/work/main", ["/work/node_modules"]), [
      "/work/node_modules",
    ]);
  });
  await t.step("a sibling's or a child's does not count", () => {
    assert.deepEqual(
      strayNodeModules("/work/main", [
        "/work/other/node_modules",
        "/work/main/tests/node_modules",
      ]),
      [],
    );
  });
  await t.step("several are all reported, innermost first", () => {
    assert.deepEqual(
      strayNodeModules("/work/main", ["/node_modules", "/work/main/node_modules"]),
      ["/work/main/node_modules", "/node_modules"],
    );
  });
});
