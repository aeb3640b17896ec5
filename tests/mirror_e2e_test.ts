/**
 * End-to-end: the JWT mirror (NATS_JWT_MOUNT_DIR -> NATS_JWT_DIR) through main.ts and a real
 * nats-server, with the mount as a kubelet-style volume: what is rejected and why, what is kept,
 * what is written and how, what the supervisor refuses to start with, and that a reader of the
 * resolver dir never sees a partial file.
 */

import { pathExists } from "../src/shared/path_exists.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeAccount, makeOperator } from "../dev/jwt_fixtures.ts";
import { kubeletWrite } from "../dev/kubelet.ts";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";

/** The last line of a mirror pass that ends without a write (debug level). */
const NOTHING_TO_WRITE = /JWT mirror: nothing to write/;
/** The last line of a mirror pass that wrote or removed files. */
const MIRROR_APPLIED = /JWT mirror applied/;
const PASS_END = new RegExp(`${NOTHING_TO_WRITE.source}|${MIRROR_APPLIED.source}`);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("the JWT mirror through the supervisor: checks, keeps, trims, never tears", async (t) => {
  await using setup = await tempSetup();
  const demoFile = `${setup.demo.pub}.jwt`;
  const resolverPath = (name: string) => join(setup.jwtDir, name);
  const readResolver = (name: string) => Deno.readTextFile(resolverPath(name));
  // The resolver dir already holds an older version of the demo account; the mount is empty.
  const olderDemo = await makeAccount(setup.operator, {
    name: "demo",
    key: setup.demo.kp,
    limits: { subs: 7 },
  });
  // The mount's version is issued after it (never older by iat: an older one would be kept out).
  const demo = await makeAccount(setup.operator, { name: "demo", key: setup.demo.kp });
  await Deno.writeTextFile(resolverPath(demoFile), olderDemo.jwt, { mode: 0o600 });
  await Deno.remove(setup.mountDir, { recursive: true });
  await kubeletWrite(setup.mountDir, {});

  await using run = runSupervisor({
    env: {
      ...setup.env,
      POT_NATS_LOG_LEVEL: "debug",
      POT_NATS_DEBOUNCE_MS: "20",
      // The claims push is off: this file tests the supervisor's own writes. With it on,
      // nats-server stores each pushed JWT itself with a plain (truncating, non-atomic) file
      // write, so a reader can see the file empty for a moment whatever the supervisor does.
      NATS_SYS_USER_CRED_PATH: "",
    },
  });
  await run.waitForLine(/watching for changes/);
  await run.waitForLine(/change pass: no content changed/);

  /**
   * Replaces the mount's content, waits for a line matching `expected` and then for the end of the
   * mirror pass that logged it (a pass may also run mid-swap, on a partly updated mount).
   * @returns that line and every line since the swap began
   */
  const swapMount = async (files: Record<string, string>, expected: RegExp) => {
    const from = run.lines.length;
    await kubeletWrite(setup.mountDir, files);
    const line = await run.waitForLine(expected, { from });
    await run.waitForLine(PASS_END, { from: run.lines.lastIndexOf(line) });
    return { line, lines: run.lines.slice(from) };
  };

  await t.step("an empty mount at start removes nothing and warns", async () => {
    const warning = await run.waitForLine(/the mount holds no \*\.jwt file/);
    assert.match(warning, /WRN .*keeping all 1 account JWTs/);
    await run.waitForLine(NOTHING_TO_WRITE, { from: run.lines.indexOf(warning) });
    assert.equal(await readResolver(demoFile), olderDemo.jwt);
  });

  await t.step("a JWT with a trailing newline is mirrored trimmed, mode 0600", async () => {
    const { line } = await swapMount({ [demoFile]: `${demo.jwt}\n` }, MIRROR_APPLIED);
    assert.match(line, /added=0 changed=1 .*failed=0/);
    assert.equal(await readResolver(demoFile), demo.jwt);
    assert.equal((await Deno.stat(resolverPath(demoFile))).mode! & 0o777, 0o600);
  });

  const other = await makeAccount(setup.operator, { name: "other", jetstream: false });
  const otherFile = `${other.pub}.jwt`;
  const validMount = { [demoFile]: demo.jwt, [otherFile]: `${other.jwt}\r\n` };

  await t.step("a JWT with CRLF is mirrored trimmed, mode 0600", async () => {
    const { line } = await swapMount(validMount, MIRROR_APPLIED);
    assert.match(line, /added=1 changed=0 .*failed=0/);
    assert.equal(await readResolver(otherFile), other.jwt);
    assert.equal((await Deno.stat(resolverPath(otherFile))).mode! & 0o777, 0o600);
  });

  const foreignOperator = await makeOperator({ name: "foreign" });
  const [header, payload, signature] = demo.jwt.split(".") as [string, string, string];
  const flipped = signature.startsWith("A") ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  const invalid: [string, string, () => Promise<[string, string]>, RegExp][] = [
    [
      "a bad signature",
      demoFile,
      () => Promise.resolve([demoFile, `${header}.${payload}.${flipped}`]),
      /signature does not verify/,
    ],
    [
      "a sub that is not the file's account (file named for another key)",
      otherFile,
      () => Promise.resolve([otherFile, demo.jwt]),
      new RegExp(`sub ${setup.demo.pub} does not match the file name ${otherFile}`),
    ],
    [
      "an issuer that is not the trusted operator",
      demoFile,
      async () => [
        demoFile,
        (await makeAccount(foreignOperator, { name: "demo", key: setup.demo.kp })).jwt,
      ],
      /issuer O\S+ is not the trusted operator/,
    ],
    ["garbage text", demoFile, () => Promise.resolve([demoFile, "garbage\n"]), /not a JWT/],
  ];
  for (const [what, name, make, reason] of invalid) {
    await t.step(`a mounted JWT with ${what} is rejected; the mirrored one stays`, async () => {
      const [file, text] = await make();
      const before = await readResolver(name);
      const { line, lines } = await swapMount(
        { ...validMount, [file]: text },
        new RegExp(`ERR mounted JWT ${escapeRegExp(name)} rejected: .*${reason.source}`),
      );
      assert.match(line, /kept="the previously mirrored version"/);
      assert.equal(lines.filter((l) => MIRROR_APPLIED.test(l)).length, 0, lines.join("\n"));
      assert.equal(await readResolver(name), before);
    });
  }

  await t.step("a rejected new file is not mirrored at all", async () => {
    const { line, lines } = await swapMount(
      { ...validMount, "garbage.jwt": "garbage" },
      /mounted JWT garbage\.jwt rejected: not a JWT/,
    );
    assert.match(line, /kept="nothing \(not mirrored\)"/);
    assert.equal(lines.filter((l) => MIRROR_APPLIED.test(l)).length, 0, lines.join("\n"));
    await assert.rejects(Deno.stat(resolverPath("garbage.jwt")), Deno.errors.NotFound);
  });

  await t.step("removing every file from the mount removes nothing and warns", async () => {
    const sysFile = `${setup.system.pub}.jwt`;
    await pollUntil(
      "the server's copy of the system account",
      () => Deno.stat(resolverPath(sysFile)),
    );
    const before = new Map<string, string>();
    for (const name of [demoFile, otherFile, sysFile]) before.set(name, await readResolver(name));
    const { line, lines } = await swapMount({}, /the mount holds no \*\.jwt file/);
    assert.match(
      line,
      /WRN .*keeping all 2 account JWTs/,
      "the system account's own JWT is kept in any case",
    );
    assert.equal(lines.filter((l) => MIRROR_APPLIED.test(l)).length, 0, lines.join("\n"));
    for (const [name, text] of before) assert.equal(await readResolver(name), text, name);
  });

  await t.step(
    "an account removed from the mount is removed; the system account stays",
    async () => {
      // Both back in the mount; both are still mirrored, so nothing is written.
      await swapMount(validMount, /JWT mirror: nothing to write unchanged=2/);
      const { line } = await swapMount({ [demoFile]: demo.jwt }, MIRROR_APPLIED);
      assert.match(line, /added=0 changed=0 removed=1 .*failed=0/);
      await assert.rejects(Deno.stat(resolverPath(otherFile)), Deno.errors.NotFound);
      assert.equal(await readResolver(`${setup.system.pub}.jwt`), setup.system.jwt);
      assert.equal(await readResolver(demoFile), demo.jwt);
    },
  );

  await t.step("a reader of the resolver file never sees a partial file in 50 swaps", async () => {
    // Made one after another and swapped in that order, so no swap is older (by iat) than the
    // one before it.
    const versions = [];
    for (let i = 1; i <= 50; i++) {
      versions.push(
        await makeAccount(setup.operator, {
          name: "demo",
          key: setup.demo.kp,
          limits: { subs: i },
        }),
      );
    }
    const valid = new Set([demo.jwt, ...versions.map((v) => v.jwt)]);
    let reading = true;
    let reads = 0;
    const seen: string[] = [];
    const reader = (async () => {
      while (reading) {
        const text = await readResolver(demoFile).catch((error) => `(${error})`);
        reads++;
        if (!valid.has(text)) seen.push(text);
      }
    })();
    try {
      for (let i = 0; i < 50; i++) {
        const version = versions[i]!;
        await kubeletWrite(setup.mountDir, { [demoFile]: `${version.jwt}\n` });
        await pollUntil(
          `swap ${i} mirrored`,
          async () => (await readResolver(demoFile)) === version.jwt,
        );
      }
    } finally {
      reading = false;
      await reader;
    }
    assert.deepEqual(seen, [], `${seen.length} of ${reads} reads saw something else`);
    assert.ok(reads > 50, `the reader read ${reads} times`);
  });
});

Deno.test("a mount dir that is the resolver dir is refused with exit 2", async (t) => {
  await using setup = await tempSetup();
  const cases: [string, () => Promise<Record<string, string>>][] = [
    ["the same path", () => Promise.resolve({ NATS_JWT_MOUNT_DIR: setup.jwtDir })],
    ["a symlink to the resolver dir", async () => {
      const link = join(setup.dir, "mount-link");
      await Deno.symlink(setup.jwtDir, link);
      return { NATS_JWT_MOUNT_DIR: link };
    }],
    ["a resolver dir that is a symlink to the mount", async () => {
      const link = join(setup.dir, "resolver-link");
      await Deno.symlink(setup.mountDir, link);
      return { NATS_JWT_DIR: link };
    }],
  ];
  for (const [what, makeEnv] of cases) {
    await t.step(what, async () => {
      await using run = runSupervisor({
        // Past the check, the missing config would end the run with exit 1 at once.
        env: {
          ...setup.env,
          NATS_CONF: join(setup.dir, "missing.conf"),
          POT_NATS_CONF_WAIT_SECONDS: "0",
          ...(await makeEnv()),
        },
      });
      const status = await run.status;
      assert.equal(status.code, 2, run.transcript());
      assert.match(run.transcript(), /NATS_JWT_MOUNT_DIR .*NATS_JWT_DIR .*same directory/);
      assert.equal(run.count(/nats-server started/), 0);
    });
  }
});

Deno.test("a JWT refused as not yet valid is mirrored once its nbf passes, with no file change", async () => {
  await using setup = await tempSetup();
  const nbf = Math.ceil(Date.now() / 1000) + 2;
  const scheduled = await makeAccount(setup.operator, { name: "scheduled", nbf });
  await Deno.writeTextFile(join(setup.mountDir, `${scheduled.pub}.jwt`), scheduled.jwt);
  await using run = runSupervisor({
    env: { ...setup.env, NATS_SYS_USER_CRED_PATH: "", POT_NATS_RESCAN_SECONDS: "1" },
  });
  await run.waitForLine(new RegExp(`${scheduled.pub}\\.jwt rejected: not valid before`));
  const resolverFile = join(setup.jwtDir, `${scheduled.pub}.jwt`);
  assert.equal(await pathExists(resolverFile), false);
  await pollUntil("the scheduled JWT to be mirrored", () => pathExists(resolverFile), {
    timeoutMs: 10_000,
  });
  assert.equal(await Deno.readTextFile(resolverFile), scheduled.jwt);
});
