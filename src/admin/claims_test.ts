/** pushClaims and deleteAccounts against a real nats-server (one server for the whole file). */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { installTransportErrorGuard } from "./transport_guard.ts";
import {
  CLAIMS_UPDATE_SUBJECT,
  deleteAccounts,
  encodeDeleteRequest,
  firstError,
  PUSH_CHUNK,
  pushClaims,
} from "./claims.ts";
import { silentLogger } from "../shared/log.ts";
import { waitingForClose } from "./_claims_requests.ts";
import { makeAccount, makeOperator, makeUser } from "../../dev/jwt_fixtures.ts";
import { makeAccounts } from "../../dev/bulk_jwt.ts";
import { base64UrlDecode } from "../jwt/encoding.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { pollUntil } from "../../dev/poll.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";
import { settle } from "../../tests/_helpers/fake_timers.ts";

async function withConnection<T>(
  nc: Promise<NatsConnection>,
  use: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const connection = await nc;
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

Deno.test("claims requests against a real server", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  const sys = await connectWithCreds(server.url, setup.sysUser.creds);
  const signer = setup.operator.signingKey!;
  // Some steps expect a refused connection, after which the Node transport can raise an uncaught
  // ECONNRESET that would fail this whole file.
  const removeGuard = installTransportErrorGuard(silentLogger);
  try {
    await t.step(
      "a push ends once the expected servers answered, not after the quiet period",
      async () => {
        // With a minute of quiet required, only the early end lets this finish within the test's
        // deadline; a broken early end fails the test on the poll below.
        const pushed = pushClaims(sys, [{ account: setup.demo.pub, jwt: setup.demo.jwt }], {
          log: silentLogger,
          collectMs: 60_000,
          expectedReplies: 1,
        });
        let done = false;
        pushed.then(() => done = true, () => done = true);
        await pollUntil("the push to end", () => done, { timeoutMs: 10_000 });
        const [result] = await pushed;
        assert.equal(result?.ok, true);
      },
    );
    await t.step("a pushed JWT with a new limit is in force at once", async () => {
      const { log } = captureLog();
      await withConnection(connectWithCreds(server.url, setup.demoUser.creds), async (demo) => {
        const maxStreams = async () =>
          (await demo.request("$JS.API.INFO", "", { timeout: 2000 })).json<
            { limits: { max_streams: number } }
          >().limits.max_streams;
        assert.equal(await maxStreams(), -1);
        const updated = await makeAccount(setup.operator, {
          name: "demo",
          signer: signer.kp,
          key: setup.demo.kp,
          limits: { streams: 1 },
        });
        const results = await pushClaims(sys, [{ account: setup.demo.pub, jwt: updated.jwt }], {
          log,
        });
        assert.equal(results.length, 1);
        assert.deepEqual(results[0]!.servers.map((s) => [s.server, s.code, s.message]), [
          ["pot_nats_dev", 200, "jwt updated"],
        ]);
        assert.equal(results[0]!.ok, true);
        assert.equal(await maxStreams(), 1);
      });
    });

    await t.step("an account the server did not know can connect after the push", async () => {
      const { log } = captureLog();
      const account = await makeAccount(setup.operator, { name: "fresh", signer: signer.kp });
      const user = await makeUser(account, { name: "fresh-user" });
      await assert.rejects(connectWithCreds(server.url, user.creds));
      // A trailing newline, as a mounted file has, is trimmed.
      const [result] = await pushClaims(sys, [{
        account: account.pub,
        jwt: account.jwt + "\n",
      }], { log });
      assert.equal(result?.ok, true);
      await withConnection(connectWithCreds(server.url, user.creds), async (nc) => {
        await nc.flush();
      });
    });

    await t.step("an error reply is reported and logged with server and account", async () => {
      const { log, entries } = captureLog();
      const good = await makeAccount(setup.operator, { name: "good", signer: signer.kp });
      const bad = await makeAccount(setup.operator, { name: "bad", signer: signer.kp });
      const results = await pushClaims(sys, [
        { account: bad.pub, jwt: "not-a-jwt" },
        { account: good.pub, jwt: good.jwt },
      ], { log });
      assert.deepEqual(results.map((r) => [r.account, r.ok]), [[bad.pub, false], [good.pub, true]]);
      assert.equal(results[0]!.servers[0]?.code, 500);
      assert.match(results[0]!.error ?? "", /pot_nats_dev: .*expected 3 chunks/);
      const logged = entries.find((e) => e.level === "error");
      assert.equal(logged?.account, bad.pub);
      assert.equal(logged?.server, "pot_nats_dev");
      assert.match(String(logged?.error), /expected 3 chunks/);
      assert.ok(entries.some((e) => e.level === "warn" && e.failed === 1), "summary line");
    });

    await t.step(
      "a push larger than a chunk: every JWT pushed, one result each, one log line",
      async () => {
        const { log, entries } = captureLog();
        const count = PUSH_CHUNK * 2 + 7;
        const accounts = await makeAccounts(setup.operator, count, { namePrefix: "chunked" });
        const results = await pushClaims(
          sys,
          accounts.map((account) => ({ account: account.pub, jwt: account.jwt })),
          { log },
        );
        assert.equal(results.length, count);
        assert.deepEqual(results.map((r) => r.account), accounts.map((a) => a.pub), "input order");
        assert.ok(results.every((r) => r.ok), firstError(results));
        const lines = entries.filter((e) => /pushed account JWTs/.test(e.msg));
        assert.deepEqual(lines.map((e) => e.accounts), [count]);
      },
    );

    await t.step(
      "a name that is not an account key is refused before anything is sent",
      async () => {
        const { log } = captureLog();
        await assert.rejects(
          pushClaims(sys, [{ account: "foo", jwt: setup.demo.jwt }], { log }),
          (error: Error) => error instanceof TypeError && /"foo"/.test(error.message),
        );
        await assert.rejects(
          deleteAccounts(sys, [setup.operator.pub], signer.seed, { log }),
          TypeError,
        );
      },
    );

    await t.step("a hostile reply is kept bounded: the server's name and words", async () => {
      const { log, entries } = captureLog();
      const huge = "\x1b[2J" + "d".repeat(500_000);
      const replies = [
        JSON.stringify({
          server: { name: `s\x1b${"n".repeat(500)}` },
          error: { code: 500, description: huge },
        }),
        huge,
      ];
      await withConnection(connectWithCreds(server.url, setup.demoUser.creds), async (demo) => {
        demo.subscribe(CLAIMS_UPDATE_SUBJECT, {
          callback: (_error, msg) => {
            msg.respond(replies.shift() ?? "");
          },
        });
        await demo.flush();
        const account = await makeAccount(setup.operator, { name: "hostile", signer: signer.kp });
        const push = () =>
          pushClaims(demo, [{ account: account.pub, jwt: account.jwt }], {
            log,
            expectedReplies: 1,
          });
        const [described] = await push();
        const name = `s\x1b${"n".repeat(198)}…(+302 chars)`;
        const words = `\x1b[2J${"d".repeat(196)}…(+499804 chars)`;
        assert.deepEqual(described?.servers, [{ server: name, code: 500, message: words }]);
        assert.equal(described?.error, `${name}: ${words}`);
        const [unparsable] = await push();
        assert.deepEqual(unparsable?.servers, [{
          server: "?",
          code: 0,
          message: String.raw`unparsable reply: "\x1b[2J${"d".repeat(193)}…(+499807 chars)"`,
        }]);
        for (const entry of entries) assert.ok(JSON.stringify(entry).length < 2000);
      });
    });

    await t.step("silence is retried, then reported", async () => {
      // A subscriber in the demo account stands in for a server: it answers only the second time.
      const { log, entries } = captureLog();
      await withConnection(connectWithCreds(server.url, setup.demoUser.creds), async (demo) => {
        let received = 0;
        demo.subscribe(CLAIMS_UPDATE_SUBJECT, {
          callback: (_error, msg) => {
            received++;
            if (received === 2) {
              msg.respond(JSON.stringify({
                data: { account: "x", code: 200, message: "jwt updated" },
                server: { name: "stand-in" },
              }));
            }
          },
        });
        await demo.flush();
        const account = await makeAccount(setup.operator, { name: "retry", signer: signer.kp });
        const options = { log, collectMs: 50, retryDelayMs: 10 };
        const [answered] = await pushClaims(demo, [{ account: account.pub, jwt: account.jwt }], {
          ...options,
          attempts: 3,
        });
        assert.equal(answered?.ok, true);
        assert.equal(received, 2);
        assert.ok(entries.some((e) => /sending again/.test(e.msg)));

        const [silent] = await pushClaims(demo, [{ account: account.pub, jwt: account.jwt }], {
          ...options,
          attempts: 2,
        });
        assert.equal(silent?.ok, false);
        assert.equal(received, 4);
        assert.match(silent?.error ?? "", /no server answered .* after 2 attempts/);
        // Rounds and retry waits let go of the connection's close when done: a reaction left on
        // it held each round's requests (every pushed JWT) for the connection's life.
        assert.equal(waitingForClose(demo), 0);
      });
    });

    await t.step("no responders (not a system user) fails at once, without retries", async () => {
      const { log } = captureLog();
      await withConnection(connectWithCreds(server.url, setup.demoUser.creds), async (demo) => {
        const started = performance.now();
        const [result] = await pushClaims(
          demo,
          [{ account: setup.demo.pub, jwt: setup.demo.jwt }],
          { log, retryDelayMs: 5_000 },
        );
        assert.equal(result?.ok, false);
        assert.match(result?.error ?? "", /no responders/);
        assert.ok(performance.now() - started < 4_000, "no retry delay");
      });
    });

    await t.step("a closed connection fails every request, with the reason logged", async () => {
      const { log, entries } = captureLog();
      const closed = await connectWithCreds(server.url, setup.sysUser.creds);
      await closed.close();
      const started = performance.now();
      const [pushed] = await pushClaims(
        closed,
        [{ account: setup.demo.pub, jwt: setup.demo.jwt }],
        {
          log,
          retryDelayMs: 5_000,
        },
      );
      assert.equal(pushed?.ok, false);
      assert.match(
        pushed?.error ?? "",
        /could not send \$SYS\.REQ\.CLAIMS\.UPDATE: closed connection/,
      );
      const [deleted] = await deleteAccounts(closed, [setup.demo.pub], signer.seed, { log });
      assert.equal(deleted?.ok, false);
      assert.ok(performance.now() - started < 4_000, "no retry delay");
      const summary = entries.find((e) => /pushed account JWTs .*some failed/.test(e.msg));
      assert.match(String(summary?.error), /closed connection/);
    });

    await t.step(
      "a connection closed while a push waits for the server ends the push",
      async () => {
        const { log } = captureLog();
        const nc = await connectWithCreds(server.url, setup.sysUser.creds);
        // The push has published and waits for the flush's PONG when the connection closes.
        const pushing = pushClaims(nc, [{ account: setup.demo.pub, jwt: setup.demo.jwt }], { log });
        await nc.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const result = await Promise.race([
          pushing,
          new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 2000)),
        ]);
        clearTimeout(timer);
        assert.notEqual(result, "hung", "the push ends when its connection closes");
        if (result !== "hung") {
          assert.equal(result[0]?.ok, false);
          assert.match(result[0]?.error ?? "", /connection closed before any server answered/);
        }
      },
    );

    await t.step("a delete closes the account's connections and leaves .jwt.deleted", async () => {
      const { log } = captureLog();
      const account = await makeAccount(setup.operator, { name: "doomed", signer: signer.kp });
      const user = await makeUser(account, { name: "doomed-user" });
      assert.equal(
        (await pushClaims(sys, [{ account: account.pub, jwt: account.jwt }], { log }))[0]?.ok,
        true,
      );
      const nc = await connectWithCreds(server.url, user.creds);
      try {
        const results = await deleteAccounts(sys, [account.pub], signer.seed + "\n", { log });
        assert.deepEqual(results.map((r) => [r.account, r.ok, r.servers[0]?.message]), [
          [account.pub, true, "deleted 1 accounts"],
        ]);
        await pollUntil("the deleted account's connection to close", () => nc.isClosed());
      } finally {
        await nc.close();
      }
      const deleted = join(setup.jwtDir, `${account.pub}.jwt.deleted`);
      assert.ok((await Deno.stat(deleted)).isFile);
      await assert.rejects(
        Deno.stat(join(setup.jwtDir, `${account.pub}.jwt`)),
        Deno.errors.NotFound,
      );
      await assert.rejects(connectWithCreds(server.url, user.creds));
    });

    await t.step("a delete signed by the operator identity key works too", async () => {
      const { log } = captureLog();
      const account = await makeAccount(setup.operator, { name: "doomed2", signer: signer.kp });
      assert.equal(
        (await pushClaims(sys, [{ account: account.pub, jwt: account.jwt }], { log }))[0]?.ok,
        true,
      );
      const [result] = await deleteAccounts(sys, [account.pub], setup.operator.seed, { log });
      assert.equal(result?.ok, true, result?.error);
    });

    await t.step("a delete signed by an untrusted operator is reported as failed", async () => {
      const { log, entries } = captureLog();
      const stranger = await makeOperator();
      const results = await deleteAccounts(sys, [setup.demo.pub], stranger.seed, { log });
      assert.equal(results[0]?.ok, false);
      assert.match(results[0]?.error ?? "", /not trusted/);
      assert.ok(entries.some((e) => e.level === "error" && /not trusted/.test(String(e.error))));
      // The demo account is untouched.
      await withConnection(connectWithCreds(server.url, setup.demoUser.creds), (nc) => nc.flush());
    });

    await t.step("a seed that is not an operator seed is refused", async () => {
      const { log } = captureLog();
      await assert.rejects(
        deleteAccounts(sys, [setup.demo.pub], setup.demo.seed, { log }),
        (error: Error) =>
          error instanceof TypeError && /operator seed/.test(error.message) &&
          !error.message.includes(setup.demo.seed),
      );
      await assert.rejects(deleteAccounts(sys, [setup.demo.pub], "nonsense", { log }), TypeError);
    });

    await t.step("10,000 account JWTs push in seconds", async () => {
      const { log } = captureLog();
      const count = 10_000;
      const jwts = (await makeAccounts(setup.operator, count))
        .map(({ pub, jwt }) => ({ account: pub, jwt }));
      const started = performance.now();
      const results = await pushClaims(sys, jwts, { log });
      const ms = performance.now() - started;
      assert.equal(results.filter((r) => r.ok).length, count, results.find((r) => !r.ok)?.error);
      console.log(`pushed ${count} account JWTs in ${Math.round(ms)} ms`);
      assert.ok(ms < 30_000, `took ${Math.round(ms)} ms`);
    });
  } finally {
    removeGuard();
    await sys.close();
  }
});

Deno.test("a delete request is a self-signed generic JWT listing the accounts", async () => {
  const operator = await makeOperator({ signingKey: true });
  const before = Math.floor(Date.now() / 1000);
  const jwt = await encodeDeleteRequest(["AAAA"], operator.signingKey!.seed);
  const [header, payload] = jwt.split(".").slice(0, 2).map((part) =>
    JSON.parse(new TextDecoder().decode(base64UrlDecode(part)!))
  );
  assert.deepEqual(header, { typ: "JWT", alg: "ed25519-nkey" });
  assert.equal(payload.iss, operator.signingKey!.pub);
  assert.equal(payload.sub, operator.signingKey!.pub);
  assert.ok(payload.iat >= before && payload.iat <= before + 5);
  assert.deepEqual(payload.nats, { accounts: ["AAAA"], type: "generic", version: 2 });
  assert.ok(typeof payload.jti === "string" && payload.jti.length > 0);
});

Deno.test({
  name: "closing the connection ends a push that is collecting replies at once",
  // Once its flush is done a round waits for `collectMs` of quiet; a close must cut that short,
  // or AdminJobs.close() (and the supervisor's exit after nats-server died) waits for it.
  fn: async () => {
    await using setup = await tempSetup();
    await using server = await startNatsServer(setup);
    const nc = await connectWithCreds(server.url, setup.sysUser.creds);
    const pushing = pushClaims(nc, [{ account: setup.demo.pub, jwt: setup.demo.jwt }], {
      log: silentLogger,
      collectMs: 5000,
    });
    // Flushes complete in order: once this one has, the push's own flush has too, and the push
    // is waiting for its 5 s of quiet.
    await nc.flush();
    await settle();
    const closed = performance.now();
    await nc.close();
    await pushing;
    const took = performance.now() - closed;
    assert.ok(took < 1000, `the push ended ${took.toFixed(0)} ms after the connection closed`);
  },
});
