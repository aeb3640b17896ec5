/**
 * PurgeReconciler against a real nats-server (no supervisor): accounts whose JWT leaves the
 * resolver dir lose their JetStream data after the grace period, and nothing else does.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pushClaims } from "../admin/claims.ts";
import { silentLogger } from "../shared/log.ts";
import { pathExists } from "../shared/path_exists.ts";
import { ACCOUNT_PURGE_SUBJECT_PREFIX } from "./purge.ts";
import { PurgeReconciler, type PurgeReconcilerOptions } from "./reconciler.ts";
import { Report } from "../report/report.ts";
import { createStream, streamMessages } from "../../tests/_helpers/jetstream.ts";
import { makeAccount, makeUser } from "../../dev/jwt_fixtures.ts";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { pollUntil } from "../../dev/poll.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

/** How many purges a report counted with `result`. */
async function purges(report: Report, result: string): Promise<number> {
  const { values } = await report.metrics.purges.get();
  return values.find((value) => value.labels.result === result)?.value ?? 0;
}

/** Looks at a path as the purge does: a symlink is there, whatever it points to. */
const exists = (path: string) => pathExists(path, { followSymlinks: false });

Deno.test("purge reconcile against a real server", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  const jetstreamDir = join(setup.storeDir, "jetstream");
  const sys = await connectWithCreds(server.url, setup.sysUser.creds);
  const demo = await connectWithCreds(server.url, setup.demoUser.creds);
  const purgeRequests: string[] = [];
  sys.subscribe(`${ACCOUNT_PURGE_SUBJECT_PREFIX}>`, {
    callback: (_error, msg) => void purgeRequests.push(msg.subject.split(".").pop()!),
  });
  await sys.flush();

  /** An account with a JWT in the resolver dir (pushed live) and a stream with data. */
  const accountWithData = async (name: string) => {
    const account = await makeAccount(setup.operator, {
      name,
      signer: setup.operator.signingKey!.kp,
    });
    const [pushed] = await pushClaims(sys, [{ account: account.pub, jwt: account.jwt }], {
      log: silentLogger,
    });
    assert.equal(pushed?.ok, true);
    const user = await connectWithCreds(server.url, (await makeUser(account, { name })).creds);
    try {
      await createStream(user, name.toUpperCase(), 2);
    } finally {
      await user.close();
    }
    assert.ok(await exists(join(jetstreamDir, account.pub)));
    return account;
  };
  /** What the mirror does when the account leaves the mount. */
  const removeJwt = (account: string) => Deno.remove(join(setup.jwtDir, `${account}.jwt`));
  const reconciler = (overrides: Partial<PurgeReconcilerOptions> = {}) =>
    new PurgeReconciler({
      graceMs: 0,
      dryRun: false,
      resolverDir: setup.jwtDir,
      mountDir: setup.mountDir,
      systemAccount: setup.system.pub,
      findStoreDir: () => Promise.resolve(setup.storeDir),
      connection: () => Promise.resolve(sys),
      log: silentLogger,
      ...overrides,
    });

  try {
    await createStream(demo, "KEEP", 3);

    await t.step(
      "an account whose JWT was removed is purged; the demo account is intact",
      async () => {
        const victim = await accountWithData("victim");
        await removeJwt(victim.pub);
        await using purge = reconciler();
        const report = await purge.run();
        assert.equal(report.plan?.refused, undefined);
        assert.deepEqual(report.results.map((r) => [r.account, r.purged]), [[victim.pub, true]]);
        assert.equal(await exists(join(jetstreamDir, victim.pub)), false);
        assert.ok(await exists(join(jetstreamDir, setup.demo.pub)));
        assert.equal(await streamMessages(demo, "KEEP"), 3);
      },
    );

    await t.step("an empty or missing resolver dir purges nothing and warns", async () => {
      const victim = await accountWithData("survivor");
      const emptyDir = await Deno.makeTempDir({ dir: setup.dir });
      const onlySystem = await Deno.makeTempDir({ dir: setup.dir });
      await Deno.writeTextFile(join(onlySystem, `${setup.system.pub}.jwt`), setup.system.jwt);
      for (const resolverDir of [emptyDir, join(setup.dir, "missing"), onlySystem]) {
        purgeRequests.length = 0;
        const { log, entries } = captureLog();
        await using purge = reconciler({ resolverDir, log });
        const report = await purge.run();
        assert.match(report.plan?.refused ?? "", /resolver dir has no account JWTs/);
        assert.deepEqual(report.results, []);
        assert.ok(entries.some((e) => e.level === "warn" && /purge refused/.test(e.msg)));
        await sys.flush();
        assert.deepEqual(purgeRequests, []);
      }
      assert.ok(await exists(join(jetstreamDir, victim.pub)));
      assert.ok(await exists(join(jetstreamDir, setup.demo.pub)));
    });

    await t.step("a dry run logs what it would purge and purges nothing", async () => {
      const victim = await accountWithData("dryrun");
      await removeJwt(victim.pub);
      const { log, entries } = captureLog();
      purgeRequests.length = 0;
      const counted = new Report({ processMetrics: false });
      await using purge = reconciler({ dryRun: true, max: 10, log, report: counted });
      const report = await purge.run();
      assert.ok(report.plan?.wouldPurge.includes(victim.pub));
      assert.equal(await purges(counted, "dry_run"), report.plan?.wouldPurge.length);
      assert.equal(await purges(counted, "purged"), 0);
      assert.deepEqual(report.plan?.purge, []);
      assert.deepEqual(report.results, []);
      assert.ok(entries.some((e) => e.level === "info" && /would purge/.test(e.msg)));
      await sys.flush();
      assert.deepEqual(purgeRequests, []);
      assert.ok(await exists(join(jetstreamDir, victim.pub)));
    });

    await t.step("more accounts due than the limit allows: nothing purged", async () => {
      // "survivor" and "dryrun" are still there; "survivor" now loses its JWT too.
      const due = (await Array.fromAsync(Deno.readDir(jetstreamDir)))
        .map((e) => e.name)
        .filter((name) => name !== setup.demo.pub);
      assert.equal(due.length, 2);
      for (const account of due) await removeJwt(account).catch(() => {});
      const { log, entries } = captureLog();
      purgeRequests.length = 0;
      const counted = new Report({ processMetrics: false });
      await using purge = reconciler({ max: 1, log, report: counted });
      const report = await purge.run();
      assert.match(
        report.plan?.refused ?? "",
        /2 accounts are due.*limit is 1.*POT_NATS_PURGE_MAX=2/,
      );
      assert.equal(await purges(counted, "refused"), 1);
      assert.match(counted.status.snapshot().purge.last_refusal?.reason ?? "", /limit is 1/);
      assert.deepEqual(report.results, []);
      assert.ok(entries.some((e) => e.level === "warn" && /POT_NATS_PURGE_MAX/.test(e.msg)));
      await sys.flush();
      assert.deepEqual(purgeRequests, []);
      for (const account of due) assert.ok(await exists(join(jetstreamDir, account)));

      const purgedCount = new Report({ processMetrics: false });
      await using allowed = reconciler({ max: 2, report: purgedCount });
      const second = await allowed.run();
      assert.deepEqual(second.results.map((r) => r.purged), [true, true]);
      assert.equal(await purges(purgedCount, "purged"), 2);
      assert.equal(await purges(purgedCount, "refused"), 0);
    });

    await t.step("the system account and names that are not keys are left alone", async () => {
      // As in a cluster, where the meta state lives under the system account's directory.
      const systemDir = join(jetstreamDir, setup.system.pub, "_js_");
      const foo = join(jetstreamDir, "foo");
      await Deno.mkdir(systemDir, { recursive: true });
      await Deno.writeTextFile(join(systemDir, "meta.inf"), "{}");
      await Deno.mkdir(foo);
      const victim = await accountWithData("beside");
      await removeJwt(victim.pub);
      purgeRequests.length = 0;
      await using purge = reconciler({ max: 10 });
      const report = await purge.run();
      assert.deepEqual(report.plan?.ignored, ["foo"]);
      assert.deepEqual(report.results.map((r) => [r.account, r.purged]), [[victim.pub, true]]);
      await sys.flush();
      assert.deepEqual(purgeRequests, [victim.pub]);
      assert.ok(await exists(systemDir));
      assert.ok(await exists(foo));
      await Deno.remove(join(jetstreamDir, setup.system.pub), { recursive: true });
      await Deno.remove(foo);
    });

    await t.step("with a grace period, the scheduled follow-up run purges", async () => {
      const victim = await accountWithData("later");
      await removeJwt(victim.pub);
      const { log, entries } = captureLog();
      await using purge = reconciler({ graceMs: 300, log });
      const started = Date.now();
      const report = await purge.run();
      assert.deepEqual(report.plan?.waiting.map((w) => w.account), [victim.pub]);
      assert.deepEqual(report.results, []);
      assert.ok(entries.some((e) => e.level === "info" && e.account === victim.pub && e.due));
      await pollUntil(
        "the follow-up run to purge",
        async () => !(await exists(join(jetstreamDir, victim.pub))),
        { timeoutMs: 10_000 },
      );
      assert.ok(Date.now() - started >= 300, "not before the grace period");
      assert.equal(await streamMessages(demo, "KEEP"), 3);
    });

    await t.step("a JWT that returns within the grace period cancels the purge", async () => {
      const victim = await accountWithData("back");
      const jwtPath = join(setup.jwtDir, `${victim.pub}.jwt`);
      const jwt = await Deno.readTextFile(jwtPath);
      await removeJwt(victim.pub);
      let runs = 0;
      await using purge = reconciler({
        graceMs: 300,
        findStoreDir: () => {
          runs++;
          return Promise.resolve(setup.storeDir);
        },
      });
      const first = await purge.run();
      assert.deepEqual(first.plan?.waiting.map((w) => w.account), [victim.pub]);
      await Deno.writeTextFile(jwtPath, jwt);
      await pollUntil("the follow-up run", () => runs >= 2, { timeoutMs: 10_000 });
      const settled = await purge.run();
      assert.deepEqual(settled.plan?.waiting, []);
      assert.deepEqual(settled.plan?.purge, []);
      assert.ok(await exists(join(jetstreamDir, victim.pub)));
    });
    await t.step(
      "a mounted account whose resolver file is gone is kept and reported as drift",
      async () => {
        const mounted = await accountWithData("mounted");
        await Deno.writeTextFile(join(setup.mountDir, `${mounted.pub}.jwt`), mounted.jwt);
        await removeJwt(mounted.pub);
        const drifted: string[][] = [];
        purgeRequests.length = 0;
        await using purge = reconciler({ onDrift: (accounts) => drifted.push(accounts) });
        const report = await purge.run();
        assert.equal(report.plan?.refused, undefined);
        assert.deepEqual(report.plan?.purge, []);
        assert.deepEqual(report.plan?.waiting, []);
        assert.deepEqual(drifted, [[mounted.pub]]);
        await sys.flush();
        assert.deepEqual(purgeRequests, []);
        assert.ok(await exists(join(jetstreamDir, mounted.pub)));
        await Deno.remove(join(setup.mountDir, `${mounted.pub}.jwt`));
        await Deno.writeTextFile(join(setup.jwtDir, `${mounted.pub}.jwt`), mounted.jwt);
      },
    );
  } finally {
    await demo.close();
    await sys.close();
  }
});

Deno.test("purge runs never overlap; requests during a run make exactly one more", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  let release: () => void = () => {};
  const { log, entries } = captureLog();
  const purge = new PurgeReconciler({
    graceMs: 0,
    dryRun: false,
    resolverDir: "/nonexistent",
    mountDir: "/nonexistent",
    findStoreDir: async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      if (runs === 1) await new Promise<void>((resolve) => release = resolve);
      active--;
      return null;
    },
    connection: () => Promise.reject(new Error("not needed")),
    log,
  });
  try {
    const first = purge.run();
    const queued = [purge.run(), purge.run(), purge.run()];
    assert.equal(runs, 1);
    release();
    const reports = await Promise.all([first, ...queued]);
    assert.equal(runs, 2);
    assert.equal(maxActive, 1);
    assert.ok(reports.every((r) => r.skipped === "JetStream is disabled"));
    assert.ok(entries.some((e) => e.level === "debug" && /JetStream is disabled/.test(e.msg)));
    await purge.run();
    assert.equal(runs, 3);
  } finally {
    await purge.close();
  }
  assert.match((await purge.run()).skipped ?? "", /closed/);
});
