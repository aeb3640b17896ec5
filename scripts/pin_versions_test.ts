import assert from "node:assert/strict";
import {
  describeChanges,
  isSha256,
  normalizeVersion,
  parseSha256Sums,
  PinError,
  pinFromSums,
  PLACEHOLDER_SHA256,
  readPins,
  releaseAssetName,
  rewriteDockerfile,
  sumsFileName,
  sumsUrl,
  type Tool,
  type ToolPin,
  unconfirmedTools,
} from "./pin_versions.ts";

const FIXTURES = new URL("../tests/testdata/sha256sums/", import.meta.url);
const SCRIPT = new URL("./pin_versions.ts", import.meta.url).pathname;

function fixture(tool: Tool, version: string): string {
  return Deno.readTextFileSync(new URL(sumsFileName(tool, version), FIXTURES));
}

function pinFromFixture(tool: Tool, version: string): ToolPin {
  return pinFromSums(tool, version, parseSha256Sums(fixture(tool, version)));
}

const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);

const SAMPLE_DOCKERFILE = `# syntax=docker/dockerfile:1
ARG NATS_SERVER_VERSION=2.12.4
ARG NATS_SERVER_SHA256_AMD64=${"1".repeat(64)}
ARG NATS_SERVER_SHA256_ARM64=${"2".repeat(64)}
# UNCONFIRMED(natscli): typed in by hand
ARG NATSCLI_VERSION=0.4.0
ARG NATSCLI_SHA256_AMD64=${PLACEHOLDER_SHA256}
ARG NATSCLI_SHA256_ARM64=${PLACEHOLDER_SHA256}

FROM scratch AS fetch
ARG NATS_SERVER_VERSION
ARG NATSCLI_VERSION
`;

Deno.test("SHA256SUMS parsing", async (t) => {
  await t.step("reads the text and binary forms and lowercases hashes", () => {
    const sums = parseSha256Sums(
      `${HASH_A}  nats-a.zip\r\n${"B".repeat(64)} *nats-b.tar.gz\n\n${HASH_A}\tspaced name.zip\n`,
    );
    assert.deepEqual([...sums], [
      ["nats-a.zip", HASH_A],
      ["nats-b.tar.gz", HASH_B],
      ["spaced name.zip", HASH_A],
    ]);
  });

  await t.step("reads a realistic nats-server release listing", () => {
    const sums = parseSha256Sums(fixture("nats-server", "2.12.4"));
    assert.equal(sums.size, 48);
    assert.equal(
      sums.get("nats-server-v2.12.4-linux-amd64.tar.gz"),
      "92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65",
    );
  });

  await t.step("rejects a hash one digit short, naming the line", () => {
    assert.throws(
      () => parseSha256Sums(fixture("nats-server", "2.99.2"), "v2.99.2 SHA256SUMS"),
      (error: unknown) =>
        error instanceof PinError && /v2\.99\.2 SHA256SUMS line \d+/.test(error.message),
    );
  });

  await t.step("rejects a hash one digit long, a missing file name and stray text", () => {
    for (
      const text of [`${HASH_A}a  f.zip`, `${HASH_A}`, `${HASH_A}  `, "<html>rate limited</html>"]
    ) {
      assert.throws(() => parseSha256Sums(text), PinError, JSON.stringify(text));
    }
  });

  await t.step("rejects a file listed twice with different hashes", () => {
    assert.throws(() => parseSha256Sums(`${HASH_A}  f.zip\n${HASH_B}  f.zip\n`), PinError);
    assert.equal(parseSha256Sums(`${HASH_A}  f.zip\n${HASH_A}  f.zip\n`).size, 1);
  });

  await t.step("rejects an empty listing", () => {
    assert.throws(() => parseSha256Sums("\n\n"), /no entries/);
  });
});

Deno.test("release asset names and sources follow the release layouts", () => {
  assert.equal(
    releaseAssetName("nats-server", "2.12.4", "arm64"),
    "nats-server-v2.12.4-linux-arm64.tar.gz",
  );
  assert.equal(releaseAssetName("natscli", "0.4.0", "amd64"), "nats-0.4.0-linux-amd64.zip");
  assert.equal(
    sumsUrl("nats-server", "2.12.5"),
    "https://github.com/nats-io/nats-server/releases/download/v2.12.5/SHA256SUMS",
  );
  assert.equal(
    sumsUrl("natscli", "0.4.0"),
    "https://github.com/nats-io/natscli/releases/download/v0.4.0/SHA256SUMS",
  );
  assert.equal(sumsFileName("nats-server", "2.12.5"), "nats-server-v2.12.5-SHA256SUMS");
});

Deno.test("versions are release versions; one leading v is dropped", () => {
  assert.equal(normalizeVersion("v2.12.5", "--nats-server"), "2.12.5");
  assert.equal(normalizeVersion("2.12.0-RC.1", "--nats-server"), "2.12.0-RC.1");
  for (const bad of ["2.12", "latest", "vv2.12.5", "2.12.5; rm -rf /", ""]) {
    assert.throws(
      () => normalizeVersion(bad, "--nats-server"),
      /--nats-server must be a release version/,
    );
  }
});

Deno.test("pins come from the linux amd64 and arm64 archives only", async (t) => {
  await t.step("nats-server takes the .tar.gz hashes, not the .zip ones", () => {
    assert.deepEqual(pinFromFixture("nats-server", "2.12.4"), {
      version: "2.12.4",
      sha256: {
        amd64: "92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65",
        arm64: "44a6ff34eff7e8d0e1409dbac0b733cff7ecbb4f19388a4d0d3d6085d899f017",
      },
    });
  });

  await t.step("natscli takes the .zip hashes", () => {
    assert.deepEqual(pinFromFixture("natscli", "0.4.0"), {
      version: "0.4.0",
      sha256: {
        amd64: "8dbd437c826b953dbd7432cf890ef22ba3c33dccc3dce5e71b3e8d055427849c",
        arm64: "9ce0c8a6653cd697d0b32687fcb53b59c13a2ad7a6ade7af8ad8a1c0f7357a87",
      },
    });
  });

  await t.step(
    "a missing arch fails, naming the archive (the .zip of that arch does not count)",
    () => {
      assert.throws(
        () => pinFromFixture("nats-server", "2.99.1"),
        (error: unknown) =>
          error instanceof PinError &&
          error.message.includes("no hash for nats-server-v2.99.1-linux-arm64.tar.gz"),
      );
    },
  );

  await t.step("another release's listing does not satisfy the requested version", () => {
    assert.throws(
      () => pinFromSums("nats-server", "2.12.5", parseSha256Sums(fixture("nats-server", "2.12.4"))),
      /no hash for nats-server-v2\.12\.5-linux-amd64\.tar\.gz and nats-server-v2\.12\.5-linux-arm64/,
    );
  });

  await t.step("a placeholder hash in a listing is refused", () => {
    const sums = new Map([
      ["nats-0.4.0-linux-amd64.zip", PLACEHOLDER_SHA256],
      ["nats-0.4.0-linux-arm64.zip", HASH_B],
    ]);
    assert.throws(() => pinFromSums("natscli", "0.4.0", sums), /unusable hash/);
  });
});

Deno.test("the Dockerfile rewrite", async (t) => {
  await t.step("reads the current pins, placeholders included", () => {
    const pins = readPins(SAMPLE_DOCKERFILE);
    assert.equal(pins["nats-server"].version, "2.12.4");
    assert.equal(pins.natscli.sha256.arm64, PLACEHOLDER_SHA256);
    assert.equal(isSha256(pins.natscli.sha256.arm64), false);
    assert.deepEqual(unconfirmedTools(SAMPLE_DOCKERFILE), ["natscli"]);
  });

  await t.step("rewrites only the marked ARG lines of the tools given", () => {
    const next = rewriteDockerfile(SAMPLE_DOCKERFILE, {
      "nats-server": pinFromFixture("nats-server", "2.99.0"),
    });
    const before = SAMPLE_DOCKERFILE.split("\n");
    const after = next.split("\n");
    assert.equal(after.length, before.length);
    const changed = after.filter((line, index) => line !== before[index]);
    assert.deepEqual(changed.map((line) => line.split("=")[0]), [
      "ARG NATS_SERVER_VERSION",
      "ARG NATS_SERVER_SHA256_AMD64",
      "ARG NATS_SERVER_SHA256_ARM64",
    ]);
    assert.equal(readPins(next)["nats-server"].version, "2.99.0");
    assert.deepEqual(readPins(next).natscli, readPins(SAMPLE_DOCKERFILE).natscli);
    assert.deepEqual(unconfirmedTools(next), ["natscli"]);
  });

  await t.step("pinning natscli from SHA256SUMS drops its UNCONFIRMED note", () => {
    const next = rewriteDockerfile(SAMPLE_DOCKERFILE, {
      natscli: pinFromFixture("natscli", "0.99.0"),
    });
    assert.deepEqual(unconfirmedTools(next), []);
    assert.equal(readPins(next).natscli.version, "0.99.0");
    assert.ok(!next.includes("UNCONFIRMED"));
  });

  await t.step("stage-level ARG declarations without a value are left alone", () => {
    const next = rewriteDockerfile(SAMPLE_DOCKERFILE, {
      "nats-server": pinFromFixture("nats-server", "2.99.0"),
    });
    assert.ok(
      next.includes("FROM scratch AS fetch\nARG NATS_SERVER_VERSION\nARG NATSCLI_VERSION\n"),
    );
  });

  await t.step("pinning the same releases again changes nothing", () => {
    const once = rewriteDockerfile(SAMPLE_DOCKERFILE, {
      "nats-server": pinFromFixture("nats-server", "2.99.0"),
      natscli: pinFromFixture("natscli", "0.99.0"),
    });
    const twice = rewriteDockerfile(once, {
      "nats-server": pinFromFixture("nats-server", "2.99.0"),
      natscli: pinFromFixture("natscli", "0.99.0"),
    });
    assert.equal(twice, once);
  });

  await t.step("a missing ARG line fails instead of pinning half", () => {
    const withoutArm = SAMPLE_DOCKERFILE.replace(/^ARG NATS_SERVER_SHA256_ARM64=.*\n/m, "");
    assert.throws(
      () =>
        rewriteDockerfile(withoutArm, { "nats-server": pinFromFixture("nats-server", "2.99.0") }),
      /no "ARG NATS_SERVER_SHA256_ARM64=\.\.\." line/,
    );
  });

  await t.step("a duplicated ARG line fails as ambiguous", () => {
    const doubled = SAMPLE_DOCKERFILE + "ARG NATS_SERVER_VERSION=2.10.0\n";
    assert.throws(
      () => rewriteDockerfile(doubled, { "nats-server": pinFromFixture("nats-server", "2.99.0") }),
      /2 "ARG NATS_SERVER_VERSION=\.\.\." lines/,
    );
  });

  await t.step("malformed pins are refused", () => {
    const good = pinFromFixture("nats-server", "2.99.0");
    assert.throws(
      () => rewriteDockerfile(SAMPLE_DOCKERFILE, { "nats-server": { ...good, version: "2.99" } }),
      PinError,
    );
    assert.throws(
      () =>
        rewriteDockerfile(SAMPLE_DOCKERFILE, {
          "nats-server": { ...good, sha256: { ...good.sha256, arm64: "xyz" } },
        }),
      /linux-arm64 hash "xyz" is not a SHA-256/,
    );
    assert.throws(
      () =>
        rewriteDockerfile(SAMPLE_DOCKERFILE, {
          "nats-server": { ...good, sha256: { ...good.sha256, amd64: PLACEHOLDER_SHA256 } },
        }),
      PinError,
    );
  });

  await t.step("the changes are described per ARG", () => {
    const next = pinFromFixture("nats-server", "2.99.0");
    const lines = describeChanges(readPins(SAMPLE_DOCKERFILE), { "nats-server": next });
    assert.equal(lines.length, 3);
    assert.equal(lines[0], "NATS_SERVER_VERSION: 2.12.4 -> 2.99.0");
  });
});

async function runTool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", SCRIPT, ...args],
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("the pin_versions command line, offline with --sums-dir", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pin-versions-test-" });
  const dockerfile = `${dir}/Dockerfile`;
  const sumsDir = new URL(FIXTURES).pathname;
  try {
    await t.step("rewrites the Dockerfile and reports each change", async () => {
      await Deno.writeTextFile(dockerfile, SAMPLE_DOCKERFILE);
      const result = await runTool([
        "--nats-server",
        "v2.99.0",
        "--natscli",
        "0.99.0",
        "--sums-dir",
        sumsDir,
        "--dockerfile",
        dockerfile,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /NATS_SERVER_VERSION: 2\.12\.4 -> 2\.99\.0/);
      const pins = readPins(await Deno.readTextFile(dockerfile));
      assert.equal(pins["nats-server"].version, "2.99.0");
      assert.equal(pins.natscli.version, "0.99.0");
    });

    for (
      const [name, version, message] of [
        ["a missing arch", "2.99.1", /no hash for nats-server-v2\.99\.1-linux-arm64\.tar\.gz/],
        ["a malformed listing", "2.99.2", /is not "<sha256> {2}<file>"/],
        ["a listing that is not there", "2.99.9", /cannot read .*nats-server-v2\.99\.9-SHA256SUMS/],
      ] as const
    ) {
      await t.step(`fails on ${name} and changes nothing, natscli included`, async () => {
        await Deno.writeTextFile(dockerfile, SAMPLE_DOCKERFILE);
        const result = await runTool([
          "--natscli",
          "0.99.0",
          "--nats-server",
          version,
          "--sums-dir",
          sumsDir,
          "--dockerfile",
          dockerfile,
        ]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, message);
        assert.match(result.stderr, /the Dockerfile was not changed/);
        assert.equal(await Deno.readTextFile(dockerfile), SAMPLE_DOCKERFILE);
        const leftovers = [...Deno.readDirSync(dir)].map((entry) => entry.name);
        assert.deepEqual(leftovers, ["Dockerfile"]);
      });
    }

    await t.step("a bad version or no release at all is a usage error", async () => {
      assert.equal(
        (await runTool(["--nats-server", "latest", "--dockerfile", dockerfile])).code,
        2,
      );
      assert.equal((await runTool(["--dockerfile", dockerfile])).code, 2);
      assert.equal((await runTool(["--nats-sever", "2.12.5"])).code, 2);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
