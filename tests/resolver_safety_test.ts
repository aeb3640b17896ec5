/**
 * End-to-end: the mount is the truth. A resolver dir changed behind the supervisor's back (a file
 * deleted, tombstoned by `$SYS.REQ.CLAIMS.DELETE`, overwritten) never costs a mounted account its
 * data and is repaired; a mount that loses most of its accounts at once removes none of them.
 * Through main.ts and a real nats-server.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { deleteAccounts } from "../src/admin/claims.ts";
import { hasJetStreamData } from "../src/purge/jetstream_data.ts";
import { silentLogger } from "../src/shared/log.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { issuedAt } from "../src/mirror/plan.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { accountDir, addAccount, removeFromMount, resolverFile } from "./_helpers/accounts.ts";
import { createStream, streamMessages } from "./_helpers/jetstream.ts";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { connectWithCreds } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;

async function signingKeyFile(setup: TempSetup): Promise<string> {
  const path = join(setup.dir, "operator-signing.nk");
  await Deno.writeTextFile(path, setup.operator.signingKey!.seed, { mode: 0o600 });
  return path;
}

/** Waits until the resolver dir holds exactly the mounted JWT of `account` again. */
async function resolverHolds(setup: TempSetup, account: { pub: string; jwt: string }) {
  await pollUntil(
    `the mounted JWT of ${account.pub} back in the resolver dir`,
    async () =>
      (await Deno.readTextFile(resolverFile(setup, account)).catch(() => "")) === account.jwt,
  );
}

Deno.test("a resolver file lost behind the supervisor's back never costs a mounted account its data", async (t) => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: {
      ...setup.env,
      POT_NATS_OPERATOR_SIGNING_KEY: await signingKeyFile(setup),
      POT_NATS_PURGE_GRACE_SECONDS: "2",
    },
  });
  await run.waitForLine(PUSHED);
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  const admin = await connectWithCreds(setup.clientUrl, setup.sysUser.creds);
  const opened = [demo, admin];
  try {
    await createStream(demo, "KEEP", 3);

    await t.step("the resolver file deleted while another account's purge runs", async () => {
      const kept = await addAccount(setup, "kept");
      const leaving = await addAccount(setup, "leaving");
      opened.push(kept.nc, leaving.nc);
      await createStream(kept.nc, "KEPT", 5);
      await createStream(leaving.nc, "LEAVING", 1);
      const from = run.lines.length;
      // A genuine removal starts a purge run; then the kept account's resolver file vanishes.
      await removeFromMount(setup, leaving.account);
      await run.waitForLine(/its data is purged when the grace period ends/, { from });
      await Deno.remove(resolverFile(setup, kept.account));

      await run.waitForLine(
        new RegExp(`purged the JetStream data of account ${leaving.account.pub}`),
        { from },
      );
      await resolverHolds(setup, { pub: kept.account.pub, jwt: kept.account.jwt });
      const warning = await run.waitForLine(/resolver drift: the JWT of account .* was missing/, {
        from,
      });
      assert.match(warning, new RegExp(kept.account.pub));
      assert.equal(await streamMessages(kept.nc, "KEPT"), 5);
      assert.ok(await hasJetStreamData(accountDir(setup, kept.account)));
      assert.equal(run.count(new RegExp(`purg\\w* .*${kept.account.pub}`)), 0);
    });

    await t.step("the account tombstoned by a CLAIMS.DELETE from an admin tool", async () => {
      const deleted = await addAccount(setup, "deleted");
      const leaving = await addAccount(setup, "leaving2");
      opened.push(deleted.nc, leaving.nc);
      await createStream(deleted.nc, "PRECIOUS", 4);
      await createStream(leaving.nc, "GONE", 1);
      const from = run.lines.length;
      await removeFromMount(setup, leaving.account);
      await run.waitForLine(/its data is purged when the grace period ends/, { from });
      // What a cluster peer running pot-nats, or an admin tool, sends.
      const [result] = await deleteAccounts(
        admin,
        [deleted.account.pub],
        setup.operator.signingKey!.seed,
        { log: silentLogger },
      );
      assert.equal(result?.ok, true, result?.error);
      assert.ok(await pathExists(`${resolverFile(setup, deleted.account)}.deleted`));

      await run.waitForLine(
        new RegExp(`purged the JetStream data of account ${leaving.account.pub}`),
        { from },
      );
      await resolverHolds(setup, { pub: deleted.account.pub, jwt: deleted.account.jwt });
      const warning = await run.waitForLine(
        /resolver drift: account .* was deleted on the server/,
        {
          from,
        },
      );
      assert.match(warning, new RegExp(deleted.account.pub));
      assert.ok(await hasJetStreamData(accountDir(setup, deleted.account)));
      assert.equal(run.count(new RegExp(`purg\\w* .*${deleted.account.pub}`)), 0);
    });

    await t.step("the other accounts' streams keep every message", async () => {
      assert.equal(await streamMessages(demo, "KEEP"), 3);
    });
  } finally {
    for (const nc of opened) await nc.close();
  }
});

Deno.test("the periodic re-scan repairs a resolver dir changed behind the supervisor's back", async (t) => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_RESCAN_SECONDS: "1" },
  });
  await run.waitForLine(PUSHED);
  const demo = { pub: setup.demo.pub, jwt: setup.demo.jwt };

  await t.step("a missing JWT is written back, with a warning naming the account", async () => {
    const from = run.lines.length;
    await Deno.remove(resolverFile(setup, demo));
    await resolverHolds(setup, demo);
    const warning = await run.waitForLine(/resolver drift/, { from });
    assert.match(warning, /WRN .*was missing from the resolver dir/);
    assert.match(warning, new RegExp(demo.pub));
  });

  await t.step("a different, not newer JWT is replaced with the mounted one", async () => {
    const from = run.lines.length;
    await Deno.writeTextFile(resolverFile(setup, demo), "tampered");
    await resolverHolds(setup, demo);
    const warning = await run.waitForLine(/resolver drift/, { from });
    assert.match(warning, /held a different JWT/);
  });

  await t.step("a newer JWT pushed by a peer is kept, not rolled back", async () => {
    // iat counts seconds: re-issue only once a second has passed since the mounted JWT's iat.
    const mountedIat = issuedAt(setup.demo.jwt)!;
    await pollUntil("a later second", () => Math.floor(Date.now() / 1000) > mountedIat);
    const newer = await makeAccount(setup.operator, {
      name: "demo",
      key: setup.demo.kp,
      limits: { subs: 9 },
    });
    const from = run.lines.length;
    await Deno.writeTextFile(resolverFile(setup, demo), newer.jwt);
    await run.waitForLine(/is older than the server's copy; keeping the newer one/, { from });
    assert.equal(await Deno.readTextFile(resolverFile(setup, demo)), newer.jwt);
  });
});

Deno.test("a mount that loses most of its accounts at once removes none of them", async (t) => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_OPERATOR_SIGNING_KEY: await signingKeyFile(setup) },
  });
  await run.waitForLine(PUSHED);
  const one = await addAccount(setup, "one");
  const two = await addAccount(setup, "two");
  try {
    await t.step("A,B,C -> C: nothing removed, nobody disconnected, and it says why", async () => {
      const from = run.lines.length;
      await removeFromMount(setup, one.account);
      await removeFromMount(setup, two.account);
      const warning = await run.waitForLine(/accounts left the mount but at most/, { from });
      assert.match(warning, /WRN 2 accounts left the mount but at most 1 may be removed/);
      assert.match(warning, /POT_NATS_REMOVE_MAX=2/);
      for (const { account, nc } of [one, two]) {
        assert.ok(await pathExists(resolverFile(setup, account)));
        assert.equal(nc.isClosed(), false, "no live delete");
        await nc.flush();
      }
      assert.equal(run.count(/deleted accounts on the server/), 0);
    });

    await t.step("a mount holding only the system account's JWT removes nothing", async () => {
      const from = run.lines.length;
      for (const entry of Deno.readDirSync(setup.mountDir)) {
        await Deno.remove(join(setup.mountDir, entry.name));
      }
      await writeFileAtomic(join(setup.mountDir, `${setup.system.pub}.jwt`), setup.system.jwt);
      await run.waitForLine(/the mount holds no account JWT other than the system account's/, {
        from,
      });
      for (const account of [setup.demo, one.account, two.account]) {
        assert.ok(await pathExists(resolverFile(setup, account)));
      }
      assert.equal(run.count(/deleted accounts on the server/), 0);
    });
  } finally {
    await one.nc.close();
    await two.nc.close();
  }
});

Deno.test("a rejected mount file is logged once per content, not on every pass", async () => {
  await using setup = await tempSetup();
  const expired = await makeAccount(setup.operator, {
    name: "expired",
    exp: Math.floor(Date.now() / 1000) - 60,
  });
  await Deno.writeTextFile(join(setup.mountDir, `${expired.pub}.jwt`), expired.jwt);
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_RESCAN_SECONDS: "1", POT_NATS_LOG_LEVEL: "debug" },
  });
  const rejected = new RegExp(`mounted JWT ${expired.pub}\\.jwt rejected: expired`);
  const first = await run.waitForLine(rejected);
  // Three more re-scans, each a mirror run over the same content.
  await pollUntil(
    "three re-scans after the rejection",
    () =>
      run.lines.slice(run.lines.indexOf(first)).filter((line) => /change pass: scanned/.test(line))
        .length >= 3,
    { timeoutMs: 10_000 },
  );
  assert.equal(run.count(rejected), 1, run.transcript());
});
