/**
 * End-to-end: claims push, live account delete and the JetStream purge reconcile, through main.ts
 * and a real nats-server. Destructive behaviour is checked both ways: what must go goes, and what
 * must stay (other accounts' streams and messages) stays.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { createStream, streamMessages } from "./_helpers/jetstream.ts";
import { makeAccount, makeOperator, makeUser } from "../dev/jwt_fixtures.ts";
import { accountDir, addAccount, removeFromMount } from "./_helpers/accounts.ts";
import { connectWithCreds } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";
import { runSupervisor, type SupervisorRun } from "../dev/supervisor_run.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;

/** `$JS.API.INFO` as a user of the account: the JetStream limits the server enforces now. */
async function maxStreams(nc: NatsConnection): Promise<number | undefined> {
  const reply = await nc.request("$JS.API.INFO", "", { timeout: 2000 });
  return (reply.json() as { limits?: { max_streams?: number } }).limits?.max_streams;
}

async function startWith(setup: TempSetup, env: Record<string, string>): Promise<SupervisorRun> {
  const run = runSupervisor({ env: { ...setup.env, ...env } });
  await run.waitForLine(PUSHED);
  return run;
}

Deno.test("claims push, live delete and purge with a signing key and a short grace", async (t) => {
  await using setup = await tempSetup();
  const keyFile = join(setup.dir, "operator-signing.nk");
  await Deno.writeTextFile(keyFile, setup.operator.signingKey!.seed, { mode: 0o600 });
  await using run = await startWith(setup, {
    POT_NATS_OPERATOR_SIGNING_KEY: keyFile,
    POT_NATS_PURGE_GRACE_SECONDS: "1",
  });
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  try {
    await createStream(demo, "KEEP", 3);

    await t.step("an updated JWT's new limits are in force on the running server", async () => {
      assert.equal(await maxStreams(demo), -1);
      const updated = await makeAccount(setup.operator, {
        name: "demo",
        key: setup.demo.kp,
        limits: { streams: 7 },
      });
      await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt);
      await pollUntil("max_streams 7", async () => (await maxStreams(demo)) === 7);
    });

    await t.step("a new account's user can connect", async () => {
      const { nc } = await addAccount(setup, "fresh");
      await nc.close();
    });

    await t.step(
      "an account removed from the mount is deleted live: its connections close",
      async () => {
        const { account, nc } = await addAccount(setup, "leaving");
        const closed = nc.closed();
        await removeFromMount(setup, account);
        await closed;
        assert.ok(nc.isClosed());
        await run.waitForLine(/deleted accounts on the server accounts=1 failed=0/);
        assert.ok(await pathExists(join(setup.jwtDir, `${account.pub}.jwt.deleted`)));
      },
    );

    await t.step(
      "a removed account's data is purged after the grace period; others stay",
      async () => {
        const { account, nc } = await addAccount(setup, "victim");
        await createStream(nc, "GONE", 2);
        await nc.close();
        assert.ok(await pathExists(accountDir(setup, account)));
        const from = run.lines.length;
        await removeFromMount(setup, account);
        await run.waitForLine(/its data is purged when the/, { from });
        assert.ok(
          await pathExists(accountDir(setup, account)),
          "nothing is purged before the grace ends",
        );
        await pollUntil(
          "the victim's store dir to go",
          async () => !(await pathExists(accountDir(setup, account))),
        );
        assert.ok(await pathExists(accountDir(setup, setup.demo)));
        assert.equal(await streamMessages(demo, "KEEP"), 3);
      },
    );

    await t.step("an invalid JWT is never mirrored or pushed", async () => {
      const stranger = await makeOperator({ name: "stranger" });
      const forged = await makeAccount(stranger, { name: "forged" });
      const from = run.lines.length;
      await writeFileAtomic(join(setup.mountDir, `${forged.pub}.jwt`), forged.jwt);
      await run.waitForLine(new RegExp(`mounted JWT ${forged.pub}\\.jwt rejected: issuer`), {
        from,
      });
      assert.equal(await pathExists(join(setup.jwtDir, `${forged.pub}.jwt`)), false);
      assert.equal(run.lines.slice(from).filter((l) => PUSHED.test(l)).length, 0);
    });

    await t.step(
      "the system account's data is never purged, while a purge runs beside it",
      async () => {
        const sysDir = accountDir(setup, setup.system);
        await Deno.mkdir(join(sysDir, "streams"), { recursive: true });
        const { account, nc } = await addAccount(setup, "trigger");
        await createStream(nc, "TRIGGER", 1);
        await nc.close();
        const from = run.lines.length;
        await removeFromMount(setup, account);
        await run.waitForLine(new RegExp(`purged the JetStream data of account ${account.pub}`), {
          from,
        });
        assert.ok(await pathExists(sysDir));
        assert.doesNotMatch(
          run.lines.slice(from).join("\n"),
          new RegExp(`purg\\w+ .*${setup.system.pub}`),
        );
      },
    );
  } finally {
    await demo.close();
  }
});

Deno.test("a dry run logs what it would purge and purges nothing", async () => {
  await using setup = await tempSetup();
  await using run = await startWith(setup, {
    POT_NATS_PURGE_DRY_RUN: "true",
    POT_NATS_PURGE_GRACE_SECONDS: "0",
  });
  const { account, nc } = await addAccount(setup, "dry");
  await createStream(nc, "DRY", 1);
  await nc.close();
  await removeFromMount(setup, account);
  await run.waitForLine(
    new RegExp(`purge dry run: would purge the JetStream data of account ${account.pub}`),
  );
  assert.ok(await pathExists(accountDir(setup, account)));
});

Deno.test("removing more accounts with data than the maximum refuses the whole run", async () => {
  await using setup = await tempSetup();
  // The mirror lets both removals through (its own guard is tested in mirror_e2e_test.ts), so that
  // the purge's guard is what stands between them and their data.
  await using run = await startWith(setup, {
    POT_NATS_PURGE_GRACE_SECONDS: "0",
    POT_NATS_REMOVE_MAX: "2",
  });
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  await createStream(demo, "KEEP", 1);
  await demo.close();
  const removed = [];
  for (const name of ["one", "two"]) {
    const { account, nc } = await addAccount(setup, name);
    await createStream(nc, name.toUpperCase(), 1);
    await nc.close();
    removed.push(account);
  }
  for (const account of removed) await removeFromMount(setup, account);
  await run.waitForLine(/POT_NATS_PURGE_MAX/);
  for (const account of removed) assert.ok(await pathExists(accountDir(setup, account)));
  assert.equal(run.count(/purged the JetStream data/), 0);
});

Deno.test("an empty mount and resolver at start with data on disk purges nothing", async () => {
  await using setup = await tempSetup();
  {
    await using run = await startWith(setup, {});
    const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
    await createStream(demo, "PRECIOUS", 2);
    await demo.close();
    run.signal("SIGTERM");
    assert.equal((await run.status).code, 0);
  }
  // A new node whose mount and resolver dir came up empty (a mounting fault), data still on disk.
  for (const dir of [setup.mountDir, setup.jwtDir]) {
    for (const entry of Deno.readDirSync(dir)) await Deno.remove(join(dir, entry.name));
  }
  await using run = await startWith(setup, { POT_NATS_PURGE_GRACE_SECONDS: "0" });
  await run.waitForLine(/refus|no accounts|fault/i);
  assert.ok(await pathExists(accountDir(setup, setup.demo)));
  assert.equal(run.count(/purged the JetStream data/), 0);
});

Deno.test("wrong admin creds never crash the supervisor, and fixing them recovers", async () => {
  await using setup = await tempSetup();
  const credsPath = join(setup.credsDir, "sys.creds");
  const good = await Deno.readTextFile(credsPath);
  const stranger = await makeOperator({ name: "stranger" });
  const strangerAccount = await makeAccount(stranger, { name: "x", jetstream: false });
  const wrong = await makeUser(strangerAccount, { name: "intruder" });
  await Deno.writeTextFile(credsPath, wrong.creds);
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(/the server refused the admin creds: Authorization Violation/);
  // The server keeps serving and the supervisor keeps running through the retries.
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  await demo.close();
  await writeFileAtomic(credsPath, good);
  await run.waitForLine(/admin connection established/);
  await run.waitForLine(PUSHED);
  assert.equal(run.exited, false, "the supervisor kept running through the auth failures");
});
