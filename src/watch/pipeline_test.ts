/**
 * ChangePipeline on a real dev setup (files, watchers, the real `nats-server -t`), without the
 * supervisor: what it holds between passes. The passes here change JWTs and test configs but never
 * reach the point of signalling the server, so its ServerProcess runs no child.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ChangePipeline } from "./pipeline.ts";
import { parseSettings } from "../cli/settings.ts";
import type { JwtChanges } from "../mirror/mirror.ts";
import { ServerProcess } from "../server/server_process.ts";
import { makeAccount } from "../../dev/jwt_fixtures.ts";
import { pollUntil } from "../../dev/poll.ts";
import { captureLog, type LogEntry } from "../../tests/_helpers/log_capture.ts";
import { type TempSetup, tempSetup } from "../../tests/_helpers/setup.ts";

/** A pipeline on the setup, with the re-scan off; disposing it closes it. */
function pipelineOn(setup: TempSetup) {
  const { log, entries } = captureLog();
  const settings = parseSettings({
    ...setup.env,
    POT_NATS_RESCAN_SECONDS: "0",
    POT_NATS_DEBOUNCE_MS: "10",
  }, setup.dir);
  const handedOver: JwtChanges[] = [];
  const pipeline = new ChangePipeline({
    settings,
    log,
    onJwtChanges: (changes) => void handedOver.push(changes),
  });
  const server = new ServerProcess({
    request: { bin: settings.serverBin, args: [], cwd: setup.dir },
    log,
    stopTimeoutMs: 1000,
  });
  const count = (pattern: RegExp) => entries.filter((e) => pattern.test(e.msg)).length;
  return {
    pipeline,
    server,
    entries,
    handedOver,
    count,
    /** Waits until `pattern` has been logged `times` times in all. */
    async waitFor(pattern: RegExp, times = 1): Promise<LogEntry> {
      return await pollUntil(
        `"${pattern.source}" logged ${times} time(s)`,
        () => count(pattern) >= times && entries.findLast((e) => pattern.test(e.msg)),
      );
    },
    async [Symbol.asyncDispose]() {
      await pipeline.close();
    },
  };
}

const NO_CHANGE = /^change pass: no content changed$/;

/** Makes the watchers see the mount change without changing any JWT in it: a pass, no mirror. */
function touchMount(setup: TempSetup, round: number): void {
  Deno.writeTextFileSync(join(setup.mountDir, "notes.txt"), `round ${round}`);
}

Deno.test("ChangePipeline.serverView()", async (t) => {
  await using setup = await tempSetup();
  const good = Deno.readTextFileSync(setup.confPath);
  await using p = pipelineOn(setup);

  await t.step("throws until a pass read the config", () => {
    assert.throws(
      () => p.pipeline.serverView(),
      /^Error: the server config could not be read: not read yet$/,
    );
  });

  await t.step("throws with the reason while the config cannot be read", async () => {
    Deno.writeTextFileSync(setup.confPath, `${good}\nport: {\n`);
    await p.pipeline.beforeStart();
    assert.throws(
      () => p.pipeline.serverView(),
      (error: Error) =>
        error.message.startsWith("the server config could not be read: ") &&
        error.message.includes("server.conf"),
    );
  });

  await t.step("returns the config a pass read", async () => {
    Deno.writeTextFileSync(setup.confPath, good);
    await p.pipeline.beforeStart();
    const view = p.pipeline.serverView();
    assert.equal(view.confPath, setup.confPath);
    assert.equal(view.systemAccount, setup.system.pub);
  });

  await t.step("keeps the last one it could read while the config is broken", async () => {
    const before = p.pipeline.serverView();
    Deno.writeTextFileSync(setup.confPath, `${good}\nport: {\n`);
    await p.pipeline.beforeStart();
    assert.equal(p.pipeline.serverView(), before);
  });
});

Deno.test("ChangePipeline: the mirror between passes", async (t) => {
  await t.step(
    "requestDriftCheck() runs the mirror although the mount did not change",
    async () => {
      await using setup = await tempSetup();
      await using p = pipelineOn(setup);
      const resolverFile = join(setup.jwtDir, `${setup.demo.pub}.jwt`);
      await p.pipeline.beforeStart();
      assert.equal(Deno.readTextFileSync(resolverFile), setup.demo.jwt);
      p.pipeline.start(p.server);
      await p.waitFor(NO_CHANGE, 1);

      Deno.removeSync(resolverFile);
      touchMount(setup, 1);
      await p.waitFor(NO_CHANGE, 2);
      assert.equal(p.count(/resolver drift/), 0, "a pass over an unchanged mount mirrors nothing");
      assert.throws(() => Deno.statSync(resolverFile), Deno.errors.NotFound);

      p.pipeline.requestDriftCheck();
      const repair = await p.waitFor(/^resolver drift: the JWT of account \S+ was missing/);
      assert.equal(repair.account, setup.demo.pub);
      await pollUntil("the repair to be handed over", () => p.handedOver.length === 1);
      assert.deepEqual(p.handedOver[0]!.repaired, [setup.demo.pub]);
      assert.equal(p.handedOver[0]!.jwts.get(setup.demo.pub), setup.demo.jwt);
      assert.equal(Deno.readTextFileSync(resolverFile), setup.demo.jwt);
    },
  );

  await t.step("a mirror write that failed is tried again by the next pass", async () => {
    await using setup = await tempSetup();
    await using p = pipelineOn(setup);
    const account = await makeAccount(setup.operator, {
      name: "blocked",
      signer: setup.operator.signingKey!.kp,
    });
    // A directory where the JWT must go: the rename over it fails, as a full disk would.
    const blocked = join(setup.jwtDir, `${account.pub}.jwt`);
    Deno.mkdirSync(blocked);
    Deno.writeTextFileSync(join(setup.mountDir, `${account.pub}.jwt`), account.jwt);
    await p.pipeline.beforeStart();
    const failure = new RegExp(`^JWT mirror could not update ${account.pub}\\.jwt`);
    assert.equal(p.count(failure), 1);
    p.pipeline.start(p.server);
    // The mount never counted as applied: the first pass mirrors again, and fails again.
    await p.waitFor(failure, 2);

    Deno.removeSync(blocked);
    touchMount(setup, 1);
    await pollUntil("the retried write to be handed over", () => p.handedOver.length === 1);
    assert.deepEqual(p.handedOver[0]!.added, [account.pub]);
    assert.equal(Deno.readTextFileSync(blocked), account.jwt);

    touchMount(setup, 2);
    await p.waitFor(NO_CHANGE, 1);
    assert.equal(p.handedOver.length, 1, "applied now: nothing more to mirror");
  });
});

Deno.test("ChangePipeline: a config nats-server rejects is said once per content", async () => {
  await using setup = await tempSetup();
  await using p = pipelineOn(setup);
  const good = Deno.readTextFileSync(setup.confPath);
  await p.pipeline.beforeStart();
  p.pipeline.start(p.server);
  await p.waitFor(NO_CHANGE, 1);

  const invalid =
    /^the changed config is invalid; not applied, nats-server keeps the previous one$/;
  // Parses, but nats-server -t refuses it.
  Deno.writeTextFileSync(setup.confPath, `${good}max_payload: 2GB\n`);
  const first = await p.waitFor(invalid, 1);
  assert.match(String(first.nats_server), /max_payload value is too big/);

  // The same content again (a drift check makes the pass): not tested, not said again.
  const mirrored = p.count(/^change pass: mirrored$/);
  p.pipeline.requestDriftCheck();
  await p.waitFor(/^change pass: mirrored$/, mirrored + 1);

  Deno.writeTextFileSync(setup.confPath, `${good}max_payload: 3GB\n`);
  await p.waitFor(invalid, 2);
  assert.equal(p.count(invalid), 2, "said for the first and the third content only");
  assert.equal(p.count(/reloaded|sent SIGHUP/), 0, "nothing applied");
});
