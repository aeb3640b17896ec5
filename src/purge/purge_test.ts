/** purgeAccount against a real nats-server, with stand-in responders for the failure paths. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createAccount } from "@nats-io/nkeys";
import { pushClaims } from "../admin/claims.ts";
import { silentLogger } from "../shared/log.ts";
import { pathExists } from "../shared/path_exists.ts";
import { ACCOUNT_PURGE_SUBJECT_PREFIX, purgeAccount } from "./purge.ts";
import { createStream, streamMessages } from "../../tests/_helpers/jetstream.ts";
import { makeAccount, makeUser } from "../../dev/jwt_fixtures.ts";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { pollUntil } from "../../dev/poll.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

/** Looks at a path as purgeAccount does: a symlink is there, whatever it points to. */
const exists = (path: string) => pathExists(path, { followSymlinks: false });

Deno.test("purgeAccount against a real server", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  const jetstreamDir = join(setup.storeDir, "jetstream");
  const sys = await connectWithCreds(server.url, setup.sysUser.creds);
  const demo = await connectWithCreds(server.url, setup.demoUser.creds);
  // Every purge request the server sees, so a test can tell that nothing was sent.
  const seen: string[] = [];
  sys.subscribe(`${ACCOUNT_PURGE_SUBJECT_PREFIX}>`, {
    callback: (_e, msg) => void seen.push(msg.subject),
  });
  await sys.flush();
  try {
    await createStream(demo, "KEEP", 3);

    await t.step("an account's data is purged and verified; others stay intact", async () => {
      const { log } = captureLog();
      const signer = setup.operator.signingKey!.kp;
      const victim = await makeAccount(setup.operator, { name: "victim", signer });
      const [pushed] = await pushClaims(sys, [{ account: victim.pub, jwt: victim.jwt }], {
        log: silentLogger,
      });
      assert.equal(pushed?.ok, true);
      const victimUser = await connectWithCreds(
        server.url,
        (await makeUser(victim, { name: "v" })).creds,
      );
      try {
        await createStream(victimUser, "GONE", 2);
      } finally {
        await victimUser.close();
      }
      assert.ok(await exists(join(jetstreamDir, victim.pub)));

      const result = await purgeAccount(sys, victim.pub, {
        jetstreamDir,
        log,
        systemAccount: setup.system.pub,
      });
      assert.deepEqual(
        { account: result.account, purged: result.purged },
        { account: victim.pub, purged: true },
      );
      assert.equal(await exists(join(jetstreamDir, victim.pub)), false);
      assert.ok(await exists(join(jetstreamDir, setup.demo.pub)));
      assert.equal(await streamMessages(demo, "KEEP"), 3);
    });

    await t.step("names that are not account keys are refused before sending", async () => {
      const { log, entries } = captureLog();
      seen.length = 0;
      for (const name of ["foo", "_js_", setup.operator.pub, `${setup.demo.pub}.x`, ""]) {
        const result = await purgeAccount(sys, name, { jetstreamDir, log });
        assert.equal(result.purged, false);
        assert.match(result.reason, /not an account public key/);
      }
      await sys.flush();
      assert.deepEqual(seen, []);
      assert.equal(entries.filter((e) => e.level === "error").length, 5);
    });

    await t.step("the system account is refused before sending", async () => {
      seen.length = 0;
      const result = await purgeAccount(sys, setup.system.pub, {
        jetstreamDir,
        log: silentLogger,
        systemAccount: setup.system.pub,
      });
      assert.equal(result.purged, false);
      assert.match(result.reason, /system account/);
      await sys.flush();
      assert.deepEqual(seen, []);
    });

    await t.step("an account without a directory is done without a request", async () => {
      seen.length = 0;
      const absent = createAccount().getPublicKey();
      const result = await purgeAccount(sys, absent, { jetstreamDir, log: silentLogger });
      assert.equal(result.purged, true);
      assert.match(result.reason, /no JetStream data/);
      await sys.flush();
      assert.deepEqual(seen, []);
    });

    // Stand-ins: a demo-account subscriber on the purge subject plays the server, so the demo
    // connection's requests reach it instead of JetStream.
    const standIn = async (
      account: string,
      answer: (call: number) => string | undefined,
    ): Promise<{ calls: () => number; stop: () => void }> => {
      let calls = 0;
      const sub = demo.subscribe(`${ACCOUNT_PURGE_SUBJECT_PREFIX}${account}`, {
        callback: (_error, msg) => {
          calls++;
          const reply = answer(calls);
          if (reply !== undefined) msg.respond(reply);
        },
      });
      await demo.flush();
      return { calls: () => calls, stop: () => sub.unsubscribe() };
    };
    const fakeAccountDir = async () => {
      const account = createAccount().getPublicKey();
      // Data is a file below the account's directory (an empty directory counts as purged).
      await Deno.mkdir(join(jetstreamDir, account, "streams", "FAKE"), { recursive: true });
      await Deno.writeTextFile(join(jetstreamDir, account, "streams", "FAKE", "meta.inf"), "{}");
      return account;
    };
    const fast = { jetstreamDir, timeoutMs: 200, retryDelayMs: 10, verifyTimeoutMs: 200 };

    await t.step("a directory that does not go away is retried, then given up", async () => {
      const { log, entries } = captureLog();
      const account = await fakeAccountDir();
      const initiated = JSON.stringify({ initiated: true });
      const fake = await standIn(account, () => initiated);
      try {
        const result = await purgeAccount(demo, account, { ...fast, log, attempts: 3 });
        assert.equal(result.purged, false);
        assert.match(result.reason, /still there; gave up after 3 attempts/);
        assert.equal(fake.calls(), 3);
        assert.equal(entries.filter((e) => /trying again/.test(e.msg)).length, 2);
      } finally {
        fake.stop();
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });

    await t.step("a stop ends the wait for the directory at once", async () => {
      const { log, entries } = captureLog();
      const account = await fakeAccountDir();
      const fake = await standIn(account, () => JSON.stringify({ initiated: true }));
      const stop = new AbortController();
      try {
        const started = performance.now();
        const purging = purgeAccount(demo, account, {
          ...fast,
          verifyTimeoutMs: 60_000,
          log,
          signal: stop.signal,
        });
        await pollUntil("the purge request", () => fake.calls() === 1);
        stop.abort();
        const result = await purging;
        assert.equal(result.purged, false);
        assert.match(result.reason, /supervisor is shutting down/);
        assert.ok(performance.now() - started < 5000, "did not wait out the verify timeout");
        assert.equal(entries.filter((e) => e.level === "error").length, 0);
      } finally {
        fake.stop();
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });

    await t.step("a timeout and a 503 are retried; the purge then succeeds", async () => {
      const account = await fakeAccountDir();
      const fake = await standIn(account, (call) => {
        if (call === 1) return undefined; // silence: a cluster follower
        if (call === 2) {
          return JSON.stringify({ error: { code: 503, description: "JetStream not ready" } });
        }
        Deno.removeSync(join(jetstreamDir, account), { recursive: true });
        return JSON.stringify({ initiated: true });
      });
      try {
        const result = await purgeAccount(demo, account, {
          ...fast,
          log: silentLogger,
          attempts: 3,
        });
        assert.equal(result.purged, true, result.reason);
        assert.equal(fake.calls(), 3);
      } finally {
        fake.stop();
      }
    });

    await t.step("a hostile reply is quoted and bounded in the reason", async () => {
      const account = await fakeAccountDir();
      const huge = "\x1b[2J" + "d".repeat(500_000);
      const fake = await standIn(
        account,
        (call) => call === 1 ? huge : JSON.stringify({ error: { code: huge, description: huge } }),
      );
      try {
        const { log, entries } = captureLog();
        const result = await purgeAccount(demo, account, { ...fast, log, attempts: 3 });
        assert.equal(result.purged, false);
        assert.equal(
          result.reason,
          String.raw`the server answered "\x1b[2J${"d".repeat(193)}…(+499807 chars)": ` +
            `\x1b[2J${"d".repeat(196)}…(+499804 chars)`,
        );
        assert.equal(
          entries.find((e) => /trying again/.test(e.msg))?.msg,
          String.raw`JetStream purge of account ${account}: unparsable reply: ` +
            String.raw`"\x1b[2J${"d".repeat(193)}…(+499807 chars)"; trying again`,
        );
        assert.equal(fake.calls(), 2);
      } finally {
        fake.stop();
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });

    await t.step("an error other than 503 is final", async () => {
      const account = await fakeAccountDir();
      const fake = await standIn(
        account,
        () => JSON.stringify({ error: { code: 400, description: "nope" } }),
      );
      try {
        const result = await purgeAccount(demo, account, {
          ...fast,
          log: silentLogger,
          attempts: 3,
        });
        assert.equal(result.purged, false);
        assert.match(result.reason, /answered 400: nope/);
        assert.equal(fake.calls(), 1);
      } finally {
        fake.stop();
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });

    await t.step("silence (a JetStream user that is not a system user) is given up", async () => {
      const account = await fakeAccountDir();
      try {
        const result = await purgeAccount(demo, account, {
          ...fast,
          log: silentLogger,
          attempts: 2,
        });
        assert.equal(result.purged, false);
        assert.match(result.reason, /no reply within 200 ms.*gave up after 2 attempts/);
      } finally {
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });

    await t.step("a closed connection is final, without a retry delay", async () => {
      const account = await fakeAccountDir();
      const closed = await connectWithCreds(server.url, setup.sysUser.creds);
      await closed.close();
      try {
        const started = performance.now();
        const result = await purgeAccount(closed, account, {
          ...fast,
          log: silentLogger,
          retryDelayMs: 5_000,
        });
        assert.equal(result.purged, false);
        assert.match(result.reason, /the admin connection is closed/);
        assert.ok(performance.now() - started < 4_000, "no retry delay");
      } finally {
        await Deno.remove(join(jetstreamDir, account), { recursive: true });
      }
    });
  } finally {
    await demo.close();
    await sys.close();
  }
});

Deno.test("purgeAccount on a server without JetStream fails at once: no responders", async () => {
  await using setup = await tempSetup();
  const conf = await Deno.readTextFile(setup.confPath);
  await Deno.writeTextFile(setup.confPath, conf.replace(/^jetstream .*$/m, ""));
  await using server = await startNatsServer(setup);
  const jetstreamDir = join(setup.storeDir, "jetstream");
  const account = createAccount().getPublicKey();
  await Deno.mkdir(join(jetstreamDir, account), { recursive: true });
  await Deno.writeTextFile(join(jetstreamDir, account, "meta.inf"), "{}");
  const sys = await connectWithCreds(server.url, setup.sysUser.creds);
  try {
    const result = await purgeAccount(sys, account, {
      jetstreamDir,
      log: silentLogger,
      retryDelayMs: 5_000,
    });
    assert.equal(result.purged, false);
    assert.match(result.reason, /no responders: JetStream is not enabled/);
  } finally {
    await sys.close();
  }
});
