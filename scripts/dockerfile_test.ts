/**
 * Checks the shipped image definition without a container engine: the Dockerfile (pins, base
 * images, user, entrypoint, health check, ports, no emulation), the default server config, and
 * the Kubernetes example against the settings contract.
 */

import assert from "node:assert/strict";
import { TARGETS } from "./compile_plan.ts";
import {
  ARCHES,
  isSha256,
  isVersion,
  parseSha256Sums,
  pinFromSums,
  PLACEHOLDER_SHA256,
  readPins,
  rewriteDockerfile,
  sumsFileName,
  type Tool,
  unconfirmedTools,
} from "./pin_versions.ts";
import { join } from "node:path";
import { resolveNatsServer } from "./nats_server.ts";
import { SETTING_DOCS } from "../src/cli/settings.ts";
import { makeCertificates, opensslAvailable } from "../dev/certificates.ts";
import { makeAccount, makeOperator, makeSystemAccount } from "../dev/jwt_fixtures.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
const DOCKERFILE = read("Dockerfile");

/** The hashes the official nats images pin for nats-server v2.12.4 (nats-facts.md). */
const KNOWN_NATS_SERVER_2_12_4 = {
  amd64: "92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65",
  arm64: "44a6ff34eff7e8d0e1409dbac0b733cff7ecbb4f19388a4d0d3d6085d899f017",
};

// ---------------------------------------------------------------------------------------------
// A small Dockerfile reader: instructions with continuation lines joined and comments dropped.

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly name: string | undefined;
  readonly image: string;
  readonly platform: string | undefined;
  readonly instructions: readonly Instruction[];
}

function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let buffer = "";
  let start = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) return;
    if (buffer === "" && line.trim() === "") return;
    if (buffer === "") start = index + 1;
    if (line.endsWith("\\")) {
      buffer += line.slice(0, -1) + " ";
      return;
    }
    buffer += line;
    const match = /^\s*(\w+)\s*(.*)$/s.exec(buffer);
    assert.ok(match, `Dockerfile line ${start} is not an instruction: ${buffer}`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
    buffer = "";
  });
  assert.equal(buffer, "", "the Dockerfile ends inside a continuation line");
  return instructions;
}

function splitStages(instructions: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  let current: { from: Instruction; body: Instruction[] } | undefined;
  const close = () => {
    if (!current) return;
    const words = current.from.args.split(/\s+/);
    const platform = words[0]?.startsWith("--platform=") ? words.shift()!.slice(11) : undefined;
    const image = words[0]!;
    const name = words[1]?.toUpperCase() === "AS" ? words[2] : undefined;
    stages.push({ name, image, platform, instructions: current.body });
  };
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      close();
      current = { from: instruction, body: [] };
    } else if (current) {
      current.body.push(instruction);
    }
  }
  close();
  return stages;
}

const INSTRUCTIONS = parseDockerfile(DOCKERFILE);
const STAGES = splitStages(INSTRUCTIONS);
const FINAL = STAGES.at(-1)!;
const stageNamed = (name: string) => STAGES.find((stage) => stage.name === name);
const inStage = (stage: Stage, keyword: string) =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword);

/** Follows `FROM <stage>` references down to an image. */
function rootImage(stage: Stage): string {
  const parent = stageNamed(stage.image);
  return parent ? rootImage(parent) : stage.image;
}

function runsOnBuildPlatform(stage: Stage): boolean {
  if (stage.platform === "$BUILDPLATFORM") return true;
  const parent = stageNamed(stage.image);
  return parent !== undefined && stage.platform === undefined && runsOnBuildPlatform(parent);
}

/** Parses `key="value" key2=value2` (LABEL and ENV in key=value form). */
function keyValues(args: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const match of args.matchAll(/([\w.\-/]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    const value = match[2]!;
    pairs.set(match[1]!, value.startsWith('"') ? JSON.parse(value) : value);
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------

Deno.test("Dockerfile: BuildKit syntax directive comes first", () => {
  assert.equal(DOCKERFILE.split("\n")[0], "# syntax=docker/dockerfile:1");
});

Deno.test("Dockerfile: nats-server is pinned to a release with both arch hashes", () => {
  const pin = readPins(DOCKERFILE)["nats-server"];
  assert.ok(isVersion(pin.version), `NATS_SERVER_VERSION "${pin.version}" is not a semver`);
  for (const arch of ARCHES) {
    assert.ok(
      isSha256(pin.sha256[arch]),
      `NATS_SERVER_SHA256_${arch.toUpperCase()} is not a SHA-256`,
    );
  }
  if (pin.version === "2.12.4") assert.deepEqual(pin.sha256, KNOWN_NATS_SERVER_2_12_4);
});

Deno.test("Dockerfile: the natscli pin is well-formed; placeholders and unconfirmed hashes are flagged", () => {
  const pin = readPins(DOCKERFILE).natscli;
  assert.ok(isVersion(pin.version), `NATSCLI_VERSION "${pin.version}" is not a semver`);
  for (const arch of ARCHES) {
    const hash = pin.sha256[arch];
    assert.ok(
      isSha256(hash) || hash === PLACEHOLDER_SHA256,
      `NATSCLI_SHA256_${arch.toUpperCase()} "${hash}" is neither a SHA-256 nor the placeholder`,
    );
    if (hash === PLACEHOLDER_SHA256) {
      console.warn(
        `FLAG: NATSCLI_SHA256_${arch.toUpperCase()} is the placeholder: image builds fail until ` +
          `\`deno run -A scripts/pin_versions.ts --natscli ${pin.version}\` fills it in`,
      );
    }
  }
  for (const tool of unconfirmedTools(DOCKERFILE)) {
    console.warn(
      `FLAG: the ${tool} hashes are marked UNCONFIRMED (entered by hand, not read from the ` +
        `release's SHA256SUMS); confirm with scripts/pin_versions.ts`,
    );
  }
});

Deno.test("Dockerfile: every base image is pinned by a tag other than latest", () => {
  const images = STAGES.filter((stage) => !stageNamed(stage.image)).map((stage) => stage.image);
  assert.ok(images.length >= 3);
  for (const image of images) {
    const [reference] = image.split("@");
    const name = reference!.slice(reference!.lastIndexOf("/") + 1);
    const tag = name.includes(":") ? name.slice(name.indexOf(":") + 1) : undefined;
    assert.ok(tag !== undefined && tag !== "" && tag !== "latest", `${image} is not pinned by tag`);
    assert.ok(!tag.includes("$"), `${image}: the tag must be literal`);
  }
});

Deno.test("Dockerfile: the final image is ubi-micro and the label names the same base", () => {
  const base = rootImage(FINAL);
  assert.match(base, /^registry\.access\.redhat\.com\/ubi9\/ubi-micro:9\.\d+$/);
  const labels = keyValues(inStage(FINAL, "LABEL").map((label) => label.args).join(" "));
  assert.equal(labels.get("org.opencontainers.image.base.name"), base);
});

Deno.test("Dockerfile: no stage needs emulation", async (t) => {
  await t.step("every stage that runs a command runs on $BUILDPLATFORM", () => {
    for (const stage of STAGES) {
      if (inStage(stage, "RUN").length === 0) continue;
      assert.ok(
        runsOnBuildPlatform(stage),
        `stage ${stage.name ?? stage.image} runs commands for the target platform`,
      );
    }
  });
  await t.step("the final stage only copies and configures", () => {
    assert.deepEqual(inStage(FINAL, "RUN"), []);
  });
});

Deno.test("Dockerfile: the build stage compiles one target with the task and maps both arches", () => {
  const build = stageNamed("build");
  assert.ok(build);
  assert.match(build.image, /^denoland\/deno:(debian|ubuntu)-\d+\.\d+\.\d+$/);
  const run = inStage(build, "RUN").map((instruction) => instruction.args).join("\n");
  assert.match(run, /POT_NATS_COMPILE_TARGETS="\$\{target\}" deno task compile/);
  assert.match(run, /amd64\) target=x86_64-unknown-linux-gnu/);
  assert.match(run, /arm64\) target=aarch64-unknown-linux-gnu/);
  for (const target of TARGETS) assert.ok(run.includes(target), target);
});

Deno.test("Dockerfile: every download is checked with sha256sum against a pinned hash", () => {
  const fetch = stageNamed("fetch");
  assert.ok(fetch);
  const run = inStage(fetch, "RUN").map((instruction) => instruction.args).join("\n");
  const downloads = [...run.matchAll(/curl [^;]*?-o (\S+)/g)].map((match) => match[1]);
  assert.deepEqual(downloads, ["nats-server.tar.gz", "nats.zip"]);
  for (const file of downloads) {
    assert.ok(
      run.includes(`echo "\${server_sha256} *${file}" | sha256sum -c -`) ||
        run.includes(`echo "\${cli_sha256} *${file}" | sha256sum -c -`),
      `${file} is not verified`,
    );
  }
  for (
    const arg of [
      "NATS_SERVER_SHA256_AMD64",
      "NATS_SERVER_SHA256_ARM64",
      "NATSCLI_SHA256_AMD64",
      "NATSCLI_SHA256_ARM64",
    ]
  ) {
    assert.ok(run.includes(`\${${arg}}`), `${arg} is not used`);
    assert.ok(
      inStage(fetch, "ARG").some((instruction) => instruction.args === arg),
      `${arg} not declared in fetch`,
    );
  }
  assert.match(run, /releases\/download\/v\$\{NATS_SERVER_VERSION\}\/\$\{server\}\.tar\.gz/);
  assert.match(run, /releases\/download\/v\$\{NATSCLI_VERSION\}\/\$\{cli\}\.zip/);
});

Deno.test("Dockerfile: runs as uid 10000 with the contract's layout", async (t) => {
  await t.step("USER 10000", () => {
    assert.match(inStage(FINAL, "USER").at(-1)?.args ?? "", /^10000(:10000)?$/);
  });
  await t.step("HOME is /home/runner", () => {
    const env = keyValues(inStage(FINAL, "ENV").map((instruction) => instruction.args).join(" "));
    assert.equal(env.get("HOME"), "/home/runner");
    assert.ok(env.get("PATH")?.startsWith("/home/runner/bin:"));
  });
  await t.step("binaries go to /home/runner/bin, root-owned", () => {
    const copies = inStage(FINAL, "COPY").map((instruction) => instruction.args);
    assert.ok(copies.includes("--from=build /out/pot-nats /home/runner/bin/pot-nats"));
    assert.ok(copies.includes("--from=fetch /out/bin/ /home/runner/bin/"));
    const fetchRun = inStage(stageNamed("fetch")!, "RUN").map((instruction) => instruction.args)
      .join("\n");
    assert.match(fetchRun, /\/out\/bin\/nats-server;/);
    assert.match(fetchRun, /\/out\/bin\/nats;/);
  });
  await t.step("only the jwt and data dirs belong to the runner", () => {
    const owned = inStage(FINAL, "COPY").filter((instruction) =>
      instruction.args.includes("--chown")
    );
    assert.deepEqual(owned.map((instruction) => instruction.args), [
      "--from=rootfs --chown=10000:10000 /rootfs/home/runner/nats/ /home/runner/nats/",
    ]);
    const rootfsRun = inStage(stageNamed("rootfs")!, "RUN").map((instruction) => instruction.args)
      .join("\n");
    assert.match(rootfsRun, /\/rootfs\/home\/runner\/nats\/jwt \/rootfs\/home\/runner\/nats\/data/);
    assert.match(rootfsRun, /runner:x:10000:10000:[^:]*:\/home\/runner:/);
    assert.match(rootfsRun, /runner:x:10000:/);
  });
  await t.step("the default config lands at NATS_CONF's default", () => {
    const confDefault = SETTING_DOCS.find((doc) => doc.name === "NATS_CONF")?.default;
    assert.ok(
      inStage(FINAL, "COPY").some((instruction) =>
        instruction.args === `image/nats-server.conf ${confDefault}`
      ),
    );
  });
  await t.step("the rootfs stage asserts that ubi-micro has libgcc_s", () => {
    const copies = inStage(stageNamed("rootfs")!, "COPY").map((instruction) => instruction.args);
    assert.ok(
      copies.some((args) => args.startsWith("--from=runtime-base /usr/lib64/libgcc_s.so.1 ")),
    );
  });
});

Deno.test("Dockerfile: exec-form ENTRYPOINT and HEALTHCHECK, and the NATS ports", () => {
  const entrypoint = inStage(FINAL, "ENTRYPOINT");
  assert.equal(entrypoint.length, 1);
  assert.deepEqual(JSON.parse(entrypoint[0]!.args), ["/home/runner/bin/pot-nats"]);
  assert.equal(inStage(FINAL, "CMD").length, 0);

  const healthcheck = inStage(FINAL, "HEALTHCHECK");
  assert.equal(healthcheck.length, 1);
  const cmd = /\bCMD\s+(\[.*\])$/.exec(healthcheck[0]!.args);
  assert.ok(cmd, "HEALTHCHECK must use CMD in exec form");
  assert.deepEqual(JSON.parse(cmd[1]!), ["/home/runner/bin/pot-nats", "healthcheck"]);

  const ports = inStage(FINAL, "EXPOSE").flatMap((instruction) => instruction.args.split(/\s+/));
  assert.deepEqual(ports.sort(), ["4222", "6222", "7422", "8222", "8223"]);
});

Deno.test("Dockerfile: OCI labels are present and the version matches deno.json", () => {
  const labels = keyValues(inStage(FINAL, "LABEL").map((label) => label.args).join(" "));
  for (const key of ["title", "description", "source", "version", "licenses", "base.name"]) {
    assert.ok(
      labels.get(`org.opencontainers.image.${key}`),
      `org.opencontainers.image.${key} missing`,
    );
  }
  const versionArg = INSTRUCTIONS.find((instruction) =>
    instruction.keyword === "ARG" && instruction.args.startsWith("POT_NATS_VERSION=")
  );
  const denoJson = JSON.parse(read("deno.json")) as { version: string };
  assert.equal(versionArg?.args, `POT_NATS_VERSION=${denoJson.version}`);
});

Deno.test("Dockerfile: pin_versions round-trips on it", async (t) => {
  const sums = (tool: Tool, version: string) =>
    pinFromSums(
      tool,
      version,
      parseSha256Sums(read(`tests/testdata/sha256sums/${sumsFileName(tool, version)}`)),
    );
  const current = readPins(DOCKERFILE);
  const withoutNotes = DOCKERFILE.split("\n").filter((line) => !line.startsWith("# UNCONFIRMED"))
    .join("\n");

  await t.step("re-pinning nats-server to its current pin changes nothing", () => {
    assert.equal(
      rewriteDockerfile(DOCKERFILE, { "nats-server": current["nats-server"] }),
      DOCKERFILE,
    );
  });

  await t.step("the fixtures of the pinned releases give the same pins", () => {
    const pins = {
      "nats-server": sums("nats-server", "2.12.4"),
      natscli: sums("natscli", "0.4.0"),
    };
    if (current["nats-server"].version === "2.12.4") {
      assert.equal(
        rewriteDockerfile(DOCKERFILE, { "nats-server": pins["nats-server"] }),
        DOCKERFILE,
      );
    }
    if (current.natscli.version === "0.4.0" && isSha256(current.natscli.sha256.amd64)) {
      assert.equal(rewriteDockerfile(DOCKERFILE, pins), withoutNotes);
    }
  });

  await t.step("an upgrade and a downgrade come back to the same file", () => {
    const upgraded = rewriteDockerfile(DOCKERFILE, {
      "nats-server": sums("nats-server", "2.99.0"),
      natscli: sums("natscli", "0.99.0"),
    });
    assert.notEqual(upgraded, DOCKERFILE);
    assert.equal(readPins(upgraded)["nats-server"].version, "2.99.0");
    assert.equal(parseDockerfile(upgraded).length, INSTRUCTIONS.length);
    if (isSha256(current.natscli.sha256.amd64) && isSha256(current.natscli.sha256.arm64)) {
      assert.equal(rewriteDockerfile(upgraded, current), withoutNotes);
    }
  });
});

Deno.test(".dockerignore keeps the repository's heavy and private parts out of the context", () => {
  const entries = read(".dockerignore").split("\n").map((line) => line.trim());
  for (const entry of [".git", ".cache", "dist", ".demo", "node_modules", "**/node_modules"]) {
    assert.ok(entries.includes(entry), `${entry} missing`);
  }
  for (const needed of ["main.ts", "deno.json", "deno.lock", "src", "scripts", "image"]) {
    assert.ok(!entries.includes(needed), `${needed} is needed in the build context`);
  }
});

// ---------------------------------------------------------------------------------------------

Deno.test("default config: serves clients and JetStream without auth, monitor left to pot-nats", async (t) => {
  const conf = read("image/nats-server.conf");
  const settings = conf.split("\n").filter((line) => !/^\s*(#|$)/.test(line)).join("\n");

  await t.step("client port 4222 and JetStream under the data dir", () => {
    assert.match(settings, /^port: 4222$/m);
    assert.match(settings, /store_dir: "\/home\/runner\/nats\/data"/);
  });
  await t.step("no monitor port: NATS_MONITOR_PORT decides", () => {
    assert.doesNotMatch(settings, /\b(http_port|monitor_port|http|https_port)\s*[:=]/);
  });
  await t.step("no auth and no cluster block", () => {
    assert.doesNotMatch(settings, /\b(authorization|accounts|operator|cluster)\b/);
  });
  await t.step("nats-server accepts it (nats-server -t)", async () => {
    const bin = await resolveNatsServer();
    const output = await new Deno.Command(bin, {
      args: ["-t", "-c", new URL("image/nats-server.conf", ROOT).pathname],
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.ok(output.success, text);
    assert.match(text, /is valid/);
  });
});

// ---------------------------------------------------------------------------------------------
// The Kubernetes example. A reader for the YAML subset the example uses (block mappings and
// sequences, `|` block scalars, JSON-style flow values, quoted and plain scalars) keeps this test
// free of dependencies; `kubectl kustomize examples/kubernetes` is the full check.

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

function parseYamlDocuments(text: string): Yaml[] {
  return text.split(/^---\s*$/m).map((doc) => doc.split("\n")).filter((lines) =>
    lines.some((line) => contentOf(line) !== "")
  ).map((lines) => {
    const reader = { lines, index: 0 };
    return parseBlock(reader, indentOf(lines.find((line) => contentOf(line) !== "")!));
  });
}

interface YamlReader {
  lines: string[];
  index: number;
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function contentOf(line: string): string {
  const trimmed = line.trim();
  return trimmed.startsWith("#") ? "" : trimmed;
}

function skipBlank(reader: YamlReader): void {
  while (reader.index < reader.lines.length && contentOf(reader.lines[reader.index]!) === "") {
    reader.index++;
  }
}

function parseBlock(reader: YamlReader, indent: number): Yaml {
  skipBlank(reader);
  const first = reader.lines[reader.index];
  if (first === undefined) return null;
  assert.ok(!/^\t/.test(first), `tab indentation: ${first}`);
  return first.trimStart().startsWith("- ") || first.trim() === "-"
    ? parseSequence(reader, indent)
    : parseMapping(reader, indent);
}

function parseSequence(reader: YamlReader, indent: number): Yaml[] {
  const items: Yaml[] = [];
  for (skipBlank(reader); reader.index < reader.lines.length; skipBlank(reader)) {
    const line = reader.lines[reader.index]!;
    if (indentOf(line) !== indent || !line.trimStart().startsWith("-")) break;
    const rest = line.trimStart().slice(1).trimStart();
    if (rest === "") {
      reader.index++;
      items.push(parseBlock(reader, indentOf(reader.lines[reader.index] ?? "")));
    } else if (/^[\w.\-/"]+:(\s|$)/.test(rest)) {
      // "- key: value" opens a mapping whose keys sit two columns deeper.
      reader.lines[reader.index] = " ".repeat(indent + 2) + rest;
      items.push(parseMapping(reader, indent + 2));
    } else {
      reader.index++;
      items.push(scalar(rest));
    }
  }
  return items;
}

function parseMapping(reader: YamlReader, indent: number): { [key: string]: Yaml } {
  const mapping: { [key: string]: Yaml } = {};
  for (skipBlank(reader); reader.index < reader.lines.length; skipBlank(reader)) {
    const line = reader.lines[reader.index]!;
    if (indentOf(line) < indent) break;
    assert.equal(indentOf(line), indent, `unexpected indentation: ${line}`);
    const match = /^("[^"]*"|[\w.\-/]+):(?:\s+(.*))?$/.exec(line.trim());
    assert.ok(match, `not a "key: value" line: ${line}`);
    const key = match[1]!.startsWith('"') ? JSON.parse(match[1]!) as string : match[1]!;
    const rest = stripComment(match[2] ?? "");
    assert.ok(!(key in mapping), `duplicate key ${key}`);
    reader.index++;
    if (rest === "|" || rest === "|-") {
      mapping[key] = blockScalar(reader, indent, rest === "|-");
    } else if (rest === "") {
      skipBlank(reader);
      const next = reader.lines[reader.index];
      const nested = next !== undefined && (indentOf(next) > indent ||
        (indentOf(next) === indent && next.trimStart().startsWith("- ")));
      mapping[key] = nested ? parseBlock(reader, indentOf(next!)) : null;
    } else {
      mapping[key] = scalar(rest);
    }
  }
  return mapping;
}

function blockScalar(reader: YamlReader, parentIndent: number, strip: boolean): string {
  const body: string[] = [];
  let indent: number | undefined;
  while (reader.index < reader.lines.length) {
    const line = reader.lines[reader.index]!;
    if (line.trim() !== "") {
      if (indentOf(line) <= parentIndent) break;
      indent ??= indentOf(line);
    }
    body.push(line.slice(indent ?? 0));
    reader.index++;
  }
  while (body.length > 0 && body.at(-1)!.trim() === "") body.pop();
  return body.join("\n") + (strip ? "" : "\n");
}

function stripComment(value: string): string {
  return value.startsWith('"') ? value : value.replace(/\s+#.*$/, "").trim();
}

function scalar(text: string): Yaml {
  const value = stripComment(text);
  if (value.startsWith('"') || value.startsWith("[") || value.startsWith("{")) {
    return JSON.parse(value);
  }
  if (value === "true" || value === "false") return value === "true";
  if (value === "null" || value === "~") return null;
  if (/^-?(0|[1-9]\d*)$/.test(value)) return Number(value);
  if (/^0[0-7]+$/.test(value)) return parseInt(value, 8); // YAML 1.1 octal, as Kubernetes reads it
  return value;
}

type YamlMap = { [key: string]: Yaml };

function field(value: Yaml | undefined, ...path: (string | number)[]): Yaml | undefined {
  let current: Yaml | undefined = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = Array.isArray(current) ? current[key as number] : current[key as string];
  }
  return current;
}

function asMaps(value: Yaml | undefined): YamlMap[] {
  assert.ok(Array.isArray(value), "expected a list");
  return value as YamlMap[];
}

/** One Kubernetes example: its YAML files and their documents. */
interface K8sExample {
  dir: string;
  files: string[];
  docs: { file: string; doc: YamlMap }[];
  /** The one document of `kind` (and `name`); asserts there is exactly one. */
  find(kind: string, name?: string): YamlMap;
}

function readExample(dir: string): K8sExample {
  const files = [...Deno.readDirSync(new URL(dir, ROOT))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".yaml"))
    .map((entry) => entry.name)
    .sort();
  const docs = files.flatMap((file) =>
    parseYamlDocuments(read(dir + file)).map((doc) => ({ file, doc: doc as YamlMap }))
  );
  return {
    dir,
    files,
    docs,
    find(kind, name) {
      const found = docs.filter(({ doc }) =>
        doc.kind === kind && (name === undefined || field(doc, "metadata", "name") === name)
      );
      assert.equal(found.length, 1, `${dir}: ${kind} ${name ?? ""}`);
      return found[0]!.doc;
    },
  };
}

/** The hub: a 3-node cluster with a leafnodes listener. */
const HUB_EXAMPLE = readExample("examples/kubernetes/");
/** The edge: one leaf node dialling the hub. */
const LEAF_EXAMPLE = readExample("examples/kubernetes/leaf/");
const k8s = HUB_EXAMPLE.find;
const EXAMPLE_FILES = [
  "configmap.yaml",
  "jwt-configmap.yaml",
  "kustomization.yaml",
  "secret.yaml",
  "service.yaml",
  "statefulset.yaml",
];
/** Applied on its own: a ServiceMonitor exists only where Prometheus Operator's CRDs do. */
const SERVICE_MONITOR = "servicemonitor.yaml";

Deno.test("kubernetes examples: every document is a named Kubernetes object", () => {
  assert.deepEqual(HUB_EXAMPLE.files, [...EXAMPLE_FILES, SERVICE_MONITOR].sort());
  assert.deepEqual(LEAF_EXAMPLE.files, EXAMPLE_FILES);
  for (const example of [HUB_EXAMPLE, LEAF_EXAMPLE]) {
    for (const { file, doc } of example.docs) {
      assert.equal(typeof doc.apiVersion, "string", `${example.dir}${file}: apiVersion`);
      assert.equal(typeof doc.kind, "string", `${example.dir}${file}: kind`);
      if (doc.kind !== "Kustomization") {
        assert.equal(typeof field(doc, "metadata", "name"), "string", `${file}: metadata.name`);
      }
    }
    const kustomization = example.find("Kustomization");
    assert.deepEqual(
      [...(kustomization.resources as string[])].sort(),
      example.files.filter((file) => !["kustomization.yaml", SERVICE_MONITOR].includes(file)),
    );
  }
});

/** The StatefulSet's pod, its container and the container's environment by name. */
function podOf(example: K8sExample, name: string) {
  const statefulSet = example.find("StatefulSet", name);
  const template = field(statefulSet, "spec", "template") as YamlMap;
  const pod = field(template, "spec") as YamlMap;
  const [container] = asMaps(pod.containers);
  assert.ok(container);
  const env = new Map(asMaps(container.env).map((entry) => [entry.name as string, entry]));
  /** A path setting's value, without a trailing slash. */
  const value = (setting: string) => (env.get(setting)?.value as string).replace(/\/$/, "");
  return { statefulSet, template, pod, container, env, value };
}

/** What every example's pot-nats container must do to follow the settings contract. */
async function checkPodContract(
  t: Deno.TestContext,
  { template, pod, container, env, value }: ReturnType<typeof podOf>,
): Promise<void> {
  const contract = new Map(SETTING_DOCS.map((doc) => [doc.name, doc]));

  await t.step("every variable is a contract setting (POD_NAME feeds server_name)", () => {
    for (const name of env.keys()) {
      assert.ok(contract.has(name) || name === "POD_NAME", `${name} is not a pot-nats setting`);
    }
    for (
      const name of [
        "NATS_CONF",
        "NATS_JWT_DIR",
        "NATS_JWT_MOUNT_DIR",
        "NATS_SYS_USER_CRED_PATH",
        "NATS_SERVER_MODE",
      ]
    ) {
      assert.ok(env.has(name), `${name} missing`);
    }
  });

  await t.step("spelled-out paths equal the image defaults", () => {
    for (const [name, entry] of env) {
      const fallback = contract.get(name)?.default;
      if (fallback?.startsWith("/")) assert.equal(entry.value, fallback, name);
    }
  });

  await t.step(
    "mounts: config, certs, creds and the JWT mount read-only; jwt and data writable",
    () => {
      const mounts = new Map(asMaps(container.volumeMounts).map((m) => [m.mountPath as string, m]));
      for (
        const path of [
          dirOf(value("NATS_CONF")),
          value("NATS_SSL_DIR"),
          value("NATS_CREDS_DIR"),
          value("NATS_JWT_MOUNT_DIR"),
        ]
      ) {
        assert.equal(mounts.get(path)?.readOnly, true, `${path} must be a read-only mount`);
        assert.equal(mounts.get(path)?.subPath, undefined, `${path}: subPath mounts never update`);
      }
      for (const path of [value("NATS_JWT_DIR"), value("NATS_JETSTREAM_STORE_DIR")]) {
        assert.ok(mounts.has(path), `${path} must be a volume`);
        assert.notEqual(mounts.get(path)?.readOnly, true, `${path} must be writable`);
      }
    },
  );

  await t.step("non-root uid 10000 on a read-only root filesystem", () => {
    assert.equal(field(pod, "securityContext", "runAsNonRoot"), true);
    assert.equal(field(pod, "securityContext", "runAsUser"), 10000);
    assert.equal(field(pod, "securityContext", "fsGroup"), 10000);
    assert.equal(field(container, "securityContext", "readOnlyRootFilesystem"), true);
    assert.equal(field(container, "securityContext", "runAsUser"), 10000);
    assert.equal(field(container, "securityContext", "allowPrivilegeEscalation"), false);
  });

  await t.step("probes ask the supervisor's own endpoint, which the pod exposes", () => {
    const endpoint = asMaps(container.ports).find((port) => port.name === "pot-nats");
    assert.equal(endpoint?.containerPort, Number(env.get("POT_NATS_HTTP_PORT")?.value ?? 8223));
    const paths = {
      startupProbe: "/healthz",
      livenessProbe: "/healthz",
      readinessProbe: "/readyz",
    };
    for (const [probe, path] of Object.entries(paths)) {
      assert.equal(field(container, probe, "httpGet", "path"), path, probe);
      assert.equal(field(container, probe, "httpGet", "port"), "pot-nats", probe);
    }
    const annotations = field(template, "metadata", "annotations") as Record<string, string>;
    assert.equal(annotations["prometheus.io/port"], String(endpoint?.containerPort));
  });

  await t.step("the grace period outlasts the supervisor's stop timeout", () => {
    const stop = Number(env.get("POT_NATS_STOP_TIMEOUT_SECONDS")?.value ?? 30);
    assert.ok((pod.terminationGracePeriodSeconds as number) > stop);
  });
}

Deno.test("kubernetes example: the StatefulSet follows the contract", async (t) => {
  const hub = podOf(HUB_EXAMPLE, "pot-nats");
  const { statefulSet, pod, env } = hub;
  await checkPodContract(t, hub);

  await t.step("volumes name the example's ConfigMaps and Secrets", () => {
    const volumes = asMaps(pod.volumes);
    const source = (name: string) => volumes.find((volume) => volume.name === name);
    assert.equal(field(source("config"), "configMap", "name"), "pot-nats-config");
    assert.equal(field(source("jwt-mount"), "configMap", "name"), "pot-nats-jwt");
    assert.equal(field(source("certs"), "secret", "secretName"), "pot-nats-tls");
    assert.equal(field(source("creds"), "secret", "secretName"), "pot-nats-creds");
    k8s("ConfigMap", "pot-nats-config");
    k8s("ConfigMap", "pot-nats-jwt");
    const creds = k8s("Secret", "pot-nats-creds");
    assert.ok(field(creds, "stringData", env.get("NATS_SYS_USER_CRED_PATH")?.value as string));
    const tls = k8s("Secret", "pot-nats-tls");
    for (const key of ["ca.crt", "tls.crt", "tls.key"]) {
      assert.ok(field(tls, "stringData", key), key);
    }
  });

  await t.step("the headless service publishes not-ready pods for route discovery", () => {
    const service = k8s("Service", "pot-nats");
    assert.equal(field(service, "spec", "clusterIP"), "None");
    assert.equal(field(service, "spec", "publishNotReadyAddresses"), true);
    assert.equal(statefulSet.spec && field(statefulSet, "spec", "serviceName"), "pot-nats");
  });
});

Deno.test("kubernetes example: the server config runs operator mode with the contract's dirs", () => {
  const data = field(k8s("ConfigMap", "pot-nats-config"), "data") as YamlMap;
  const server = data["server.conf"] as string;
  const accounts = data["accounts.conf"] as string;
  assert.match(server, /^include "accounts\.conf"$/m);
  assert.match(server, /resolver \{[^}]*type: full[^}]*dir: "\/home\/runner\/nats\/jwt"/s);
  assert.match(server, /allow_delete: true/);
  assert.match(server, /store_dir: "\/home\/runner\/nats\/data"/);
  assert.match(server, /^server_name: \$POD_NAME$/m);
  assert.doesNotMatch(server, /^\s*(http_port|monitor_port)\s*:/m);
  assert.match(accounts, /^operator: /m);
  assert.match(accounts, /^system_account: /m);
  assert.match(accounts, /^resolver_preload: \{/m);
  const jwtKeys = Object.keys(field(k8s("ConfigMap", "pot-nats-jwt"), "data") as YamlMap);
  assert.ok(jwtKeys.length > 0 && jwtKeys.every((key) => key.endsWith(".jwt")));
});

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

Deno.test("kubernetes leaf example: a leaf node whose remote creds are projected under NATS_CREDS_DIR", async (t) => {
  const leaf = podOf(LEAF_EXAMPLE, "pot-nats-leaf");
  const { pod, env, value } = leaf;
  await checkPodContract(t, leaf);
  const config = field(LEAF_EXAMPLE.find("ConfigMap", "pot-nats-leaf-config"), "data") as YamlMap;
  const server = config["server.conf"] as string;
  const volumes = asMaps(pod.volumes);
  const source = (name: string) => volumes.find((volume) => volume.name === name);

  await t.step("NATS_SERVER_MODE is leaf", () => {
    assert.equal(env.get("NATS_SERVER_MODE")?.value, "leaf");
  });

  await t.step(
    "the creds volume projects both Secrets: sys.creds on top, the remote's below",
    () => {
      const sources = asMaps(field(source("creds"), "projected", "sources"));
      const items = (secret: string) => {
        const found = sources.find((entry) => field(entry, "secret", "name") === secret);
        return asMaps(field(found, "secret", "items"));
      };
      const [sys] = items("pot-nats-leaf-creds");
      assert.equal(sys?.path, env.get("NATS_SYS_USER_CRED_PATH")?.value);
      assert.ok(
        field(LEAF_EXAMPLE.find("Secret", "pot-nats-leaf-creds"), "stringData", sys!.key as string),
      );
      const [remote] = items("pot-nats-leaf-remote");
      assert.match(remote?.path as string, /^[\w-]+\/[\w.-]+\.creds$/, "in a directory of its own");
      assert.ok(
        field(
          LEAF_EXAMPLE.find("Secret", "pot-nats-leaf-remote"),
          "stringData",
          remote!.key as string,
        ),
      );
      // The config dials the hub with exactly that file.
      assert.ok(
        server.includes(`credentials: "${value("NATS_CREDS_DIR")}/${remote!.path}"`),
        "the remote's credentials path is the projected file",
      );
    },
  );

  await t.step("the remote checks the hub against a CA from the TLS Secret", () => {
    assert.equal(field(source("certs"), "secret", "secretName"), "pot-nats-leaf-tls");
    const caFile = /ca_file: "([^"]+)"/.exec(server)?.[1];
    assert.ok(caFile?.startsWith(`${value("NATS_SSL_DIR")}/`), caFile);
    const key = caFile!.slice(value("NATS_SSL_DIR").length + 1);
    assert.ok(field(LEAF_EXAMPLE.find("Secret", "pot-nats-leaf-tls"), "stringData", key), key);
    assert.match(server, /url: "tls:\/\/[^"]+:7422"/);
  });

  await t.step("the volumes name the example's ConfigMaps", () => {
    assert.equal(field(source("config"), "configMap", "name"), "pot-nats-leaf-config");
    assert.equal(field(source("jwt-mount"), "configMap", "name"), "pot-nats-leaf-jwt");
    LEAF_EXAMPLE.find("ConfigMap", "pot-nats-leaf-jwt");
  });

  await t.step(
    "JetStream has a domain of its own; the resolver and store are the contract's",
    () => {
      assert.match(server, /jetstream \{[^}]*\bdomain: \S+/s);
      assert.match(server, /resolver \{[^}]*type: full[^}]*dir: "\/home\/runner\/nats\/jwt"/s);
      assert.match(server, /store_dir: "\/home\/runner\/nats\/data"/);
    },
  );

  const openssl = await opensslAvailable();
  await t.step({
    name: "nats-server -t accepts the config, filled in with generated keys and a test CA",
    ignore: !openssl,
    fn: async () => {
      const root = await Deno.makeTempDir({ prefix: "pot-nats-leaf-example-" });
      try {
        const operator = await makeOperator({ name: "OP" });
        const system = await makeSystemAccount(operator);
        const app = await makeAccount(operator, { name: "APP" });
        const fill = (text: string) =>
          text.replaceAll("REPLACE_WITH_OPERATOR_JWT", operator.jwt)
            .replaceAll("REPLACE_WITH_SYS_ACCOUNT_PUBLIC_KEY", system.pub)
            .replaceAll("REPLACE_WITH_SYS_ACCOUNT_JWT", system.jwt)
            .replaceAll("REPLACE_WITH_APP_ACCOUNT_PUBLIC_KEY", app.pub)
            .replaceAll("REPLACE_WITH_LEAF_DOMAIN", "edge1")
            .replaceAll("REPLACE_WITH_HUB_HOST", "127.0.0.1")
            .replaceAll("/home/runner/nats/", `${root}/home/`)
            .replaceAll("/etc/nats/", `${root}/etc/`);
        const at = (path: string) => fill(path);
        const configDir = dirOf(at(value("NATS_CONF")));
        await Deno.mkdir(configDir, { recursive: true });
        for (const [name, text] of Object.entries(config)) {
          await Deno.writeTextFile(join(configDir, name), fill(text as string));
        }
        const caFile = at(/ca_file: "([^"]+)"/.exec(server)![1]!);
        const caDir = await Deno.makeTempDir({ dir: root });
        await makeCertificates(caDir);
        await Deno.mkdir(dirOf(caFile), { recursive: true });
        await Deno.copyFile(join(caDir, "ca.crt"), caFile);
        const bin = await resolveNatsServer();
        const output = await new Deno.Command(bin, {
          args: ["-t", "-c", at(value("NATS_CONF"))],
          cwd: configDir,
          env: { POD_NAME: "pot-nats-leaf-0" },
          stdin: "null",
        }).output();
        const text = new TextDecoder().decode(output.stdout) +
          new TextDecoder().decode(output.stderr);
        assert.ok(output.success, text);
        assert.match(text, /is valid/);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
});
