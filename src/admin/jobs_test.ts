/**
 * AdminJobs against a real nats-server (one for the file): the queue's coalescing, the first full
 * push, the push retry and a prompt close. What the server is asked is watched by a second system
 * account user subscribed to `$SYS.REQ.CLAIMS.UPDATE`, which sees every push request (and answers
 * none).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AdminJobs } from "./jobs.ts";
import { CLAIMS_UPDATE_SUBJECT } from "./claims.ts";
import { ServerView } from "../config/server_view.ts";
import { parseSettings } from "../cli/settings.ts";
import { base64UrlDecode } from "../jwt/encoding.ts";
import type { JwtChanges } from "../mirror/mirror.ts";
import { type FixtureAccount, makeAccount } from "../../dev/jwt_fixtures.ts";
import { connectWithCreds, monitor } from "../../dev/nats_client.ts";
import { pollUntil } from "../../dev/poll.ts";
import { freePort } from "../../dev/ports.ts";
import { captureLog, type LogEntry } from "../../tests/_helpers/log_capture.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { type TempSetup, tempSetup } from "../../tests/_helpers/setup.ts";

/** One push request as the server received it. */
interface SeenRequest {
  /** The `sub` of the pushed JWT, or "unreadable". */
  account: string;
  payload: string;
  at: number;
}

/**
 * Watches the push requests with a system account user of its own; `onRequest` runs as each one
 * arrives (before the server's reply has been collected by the pusher).
 */
async function watchPushes(setup: TempSetup) {
  const nc = await connectWithCreds(setup.clientUrl, setup.sysUser.creds);
  const seen: SeenRequest[] = [];
  let onRequest: ((request: SeenRequest) => void) | undefined;
  nc.subscribe(CLAIMS_UPDATE_SUBJECT, {
    callback: (_error, msg) => {
      const request = { account: subOf(msg.string()), payload: msg.string(), at: now() };
      seen.push(request);
      onRequest?.(request);
    },
  });
  await nc.flush();
  return {
    seen,
    /** How many requests pushed `account`. */
    count: (account: string) => seen.filter((r) => r.account === account).length,
    set onRequest(fn: ((request: SeenRequest) => void) | undefined) {
      onRequest = fn;
    },
    async [Symbol.asyncDispose]() {
      await nc.close();
    },
  };
}

function subOf(jwt: string): string {
  try {
    const payload = base64UrlDecode(jwt.split(".")[1] ?? "");
    return String(JSON.parse(new TextDecoder().decode(payload!)).sub);
  } catch {
    return "unreadable";
  }
}

const now = () => performance.now();

/** Admin jobs on the setup, logging into `entries`; disposing closes them. */
function adminJobs(
  setup: TempSetup,
  options: { env?: Record<string, string>; pushRetryMs?: number } = {},
) {
  const { log, entries } = captureLog();
  const settings = parseSettings({ ...setup.env, ...options.env }, setup.dir);
  const jobs = new AdminJobs(settings, log, {
    config: () => ServerView.read(setup.confPath),
    ...(options.pushRetryMs !== undefined ? { pushRetryMs: options.pushRetryMs } : {}),
  });
  return {
    jobs,
    entries,
    /** The successful pushes' log lines, oldest first. */
    pushes: () => entries.filter((e) => e.msg === "pushed account JWTs to the server"),
    async [Symbol.asyncDispose]() {
      await jobs.close();
    },
  };
}

/** What a mirror pass hands over when it wrote these accounts. */
function written(...accounts: { pub: string; jwt: string }[]): JwtChanges {
  return {
    added: accounts.map((a) => a.pub),
    changed: [],
    removed: [],
    repaired: [],
    jwts: new Map(accounts.map((a) => [a.pub, a.jwt])),
  };
}

function removed(...accounts: { pub: string }[]): JwtChanges {
  return {
    added: [],
    changed: [],
    removed: accounts.map((a) => a.pub),
    repaired: [],
    jwts: new Map(),
  };
}

function newAccounts(setup: TempSetup, ...names: string[]): Promise<FixtureAccount[]> {
  const signer = setup.operator.signingKey!.kp;
  return Promise.all(names.map((name) => makeAccount(setup.operator, { name, signer })));
}

function resolverAccounts(setup: TempSetup): string[] {
  return [...Deno.readDirSync(setup.jwtDir)]
    .filter((entry) => entry.name.endsWith(".jwt"))
    .map((entry) => entry.name.slice(0, -".jwt".length))
    .sort();
}

async function waitForPushes(admin: { pushes(): LogEntry[] }, count: number): Promise<LogEntry[]> {
  return await pollUntil(`${count} successful push(es)`, () => {
    const pushes = admin.pushes();
    return pushes.length >= count && pushes;
  });
}

Deno.test("AdminJobs against a real nats-server", async (t) => {
  await using setup = await tempSetup();
  await using _server = await startNatsServer(setup);

  await t.step("the first push after start pushes every resolver JWT once", async () => {
    const extra = await newAccounts(setup, "one", "two", "three");
    for (const account of extra) {
      Deno.writeTextFileSync(join(setup.jwtDir, `${account.pub}.jwt`), account.jwt);
    }
    const expected = resolverAccounts(setup);
    assert.ok(expected.length >= 4, `demo and three more: ${expected}`);
    // A file not named after an account key is no account's JWT: it once failed the whole push
    // (the push refuses a name that is not a key before sending anything).
    const stray = join(setup.jwtDir, "stray.jwt");
    Deno.writeTextFileSync(stray, setup.demo.jwt);
    await using server = await watchPushes(setup);
    await using admin = adminJobs(setup);
    try {
      admin.jobs.start();
      const [push] = await waitForPushes(admin, 1);
      assert.equal(push!.accounts, expected.length);
      assert.deepEqual(server.seen.map((r) => r.account).sort(), expected);
    } finally {
      Deno.removeSync(stray);
    }
  });

  await t.step("a resolver file caught empty is pushed once it holds its JWT", async () => {
    const [late] = await newAccounts(setup, "late");
    const file = join(setup.jwtDir, `${late!.pub}.jwt`);
    // As nats-server leaves a file it rewrites in place, for a moment.
    Deno.writeTextFileSync(file, "");
    await using server = await watchPushes(setup);
    await using admin = adminJobs(setup, { pushRetryMs: 300 });
    admin.jobs.start();
    await waitForPushes(admin, 1);
    const warning = admin.entries.find((e) => /resolver JWT files were empty/.test(e.msg));
    assert.equal(warning?.accounts, 1);
    assert.equal(server.count(late!.pub), 0, "not pushed empty");
    Deno.writeTextFileSync(file, late!.jwt);
    await pollUntil("the late JWT to be pushed", () => server.count(late!.pub) === 1);
    await waitForPushes(admin, 2);
    assert.deepEqual(server.seen.find((r) => r.account === late!.pub)?.payload, late!.jwt);
  });

  await t.step(
    "changes handed over while a push runs are coalesced into one more push",
    async () => {
      const changes = await newAccounts(setup, "c1", "c2", "c3");
      await using server = await watchPushes(setup);
      await using admin = adminJobs(setup);
      let pushesWhenHandedOver: number | undefined;
      server.onRequest = () => {
        if (pushesWhenHandedOver !== undefined) return;
        // The first request of the first push is on its way: three mirror passes hand over.
        pushesWhenHandedOver = admin.pushes().length;
        for (const account of changes) admin.jobs.onJwtChanges(written(account));
      };
      admin.jobs.start();
      const pushes = await waitForPushes(admin, 2);
      assert.equal(pushesWhenHandedOver, 0, "handed over while the first push ran");
      // This subscriber's copy of a push may arrive after the server's reply to the supervisor.
      await pollUntil("the three pushes seen", () => changes.every((a) => server.count(a.pub) > 0));
      for (const account of changes) assert.equal(server.count(account.pub), 1, account.name);
      assert.equal(pushes[1]!.accounts, 3, "one more push with all three");
      // That push knows from the first how many servers answer, and ends once it answered.
      assert.ok(Number(pushes[1]!.ms) < 250, `ended before the 250 ms of quiet: ${pushes[1]!.ms}`);
      await pollUntil("no third push", () => admin.pushes().length === 2);
    },
  );

  await t.step(
    "an account removed before its push is dropped from the pending pushes",
    async () => {
      const [gone, kept] = await newAccounts(setup, "gone", "kept");
      await using server = await watchPushes(setup);
      await using admin = adminJobs(setup);
      let handedOver = false;
      server.onRequest = () => {
        if (handedOver) return;
        handedOver = true;
        admin.jobs.onJwtChanges(written(gone!, kept!));
        admin.jobs.onJwtChanges(removed(gone!));
      };
      admin.jobs.start();
      const pushes = await waitForPushes(admin, 2);
      assert.equal(pushes[1]!.accounts, 1);
      // This subscriber's copy of the push may arrive after the server's reply to the supervisor.
      await pollUntil("the kept account's push seen", () => server.count(kept!.pub) === 1);
      assert.equal(server.count(gone!.pub), 0);
    },
  );

  await t.step(
    "a failed push is retried after the retry delay, with the resolver dir's JWT",
    async () => {
      const [account] = await newAccounts(setup, "retried");
      await using server = await watchPushes(setup);
      await using admin = adminJobs(setup, { pushRetryMs: 500 });
      admin.jobs.start();
      await waitForPushes(admin, 1);
      // The mirror wrote the checked JWT; the hand-over carries something the server refuses.
      Deno.writeTextFileSync(join(setup.jwtDir, `${account!.pub}.jwt`), account!.jwt);
      admin.jobs.onJwtChanges({ ...written(account!), jwts: new Map([[account!.pub, "nope"]]) });
      const requests = () =>
        server.seen.filter((r) => r.payload === "nope" || r.account === account!.pub);
      const [failed, retried] = await pollUntil("the retry", () => {
        const seen = requests();
        return seen.length === 2 && seen;
      });
      assert.equal(failed!.payload, "nope");
      assert.equal(retried!.payload, account!.jwt);
      const waited = retried!.at - failed!.at;
      assert.ok(waited >= 500, `retried ${waited.toFixed(0)} ms after the failed request`);
      const scheduled = admin.entries.find((e) => e.msg === "pushing 1 account JWT again in 0.5 s");
      assert.match(String(scheduled?.reason), /expected 3 chunks/);
      await waitForPushes(admin, 2);
    },
  );

  await t.step("close() ends at once with a retry pending", async () => {
    const [account] = await newAccounts(setup, "pending");
    await using server = await watchPushes(setup);
    await using admin = adminJobs(setup); // the real 15 s retry delay
    admin.jobs.start();
    await waitForPushes(admin, 1);
    admin.jobs.onJwtChanges({ ...written(account!), jwts: new Map([[account!.pub, "nope"]]) });
    await pollUntil(
      "the retry to be scheduled",
      () => admin.entries.some((e) => e.msg === "pushing 1 account JWT again in 15 s"),
    );
    const start = now();
    await admin.jobs.close();
    const took = now() - start;
    // The test's timer sanitizer fails it should the retry timer outlive close().
    assert.ok(took < 1000, `close() took ${took.toFixed(0)} ms`);
    assert.equal(server.seen.filter((r) => r.payload === "nope").length, 1, "no retry");
  });

  await t.step("close() during a push ends it and drops what is queued", async () => {
    const [account] = await newAccounts(setup, "in-flight");
    await using server = await watchPushes(setup);
    await using admin = adminJobs(setup);
    let closing: Promise<number> | undefined;
    server.onRequest = () => {
      if (closing) return;
      admin.jobs.onJwtChanges(written(account!));
      const start = now();
      closing = admin.jobs.close().then(() => now() - start);
    };
    admin.jobs.start();
    await pollUntil("close() to be called", () => closing);
    const took = await closing!;
    assert.ok(took < 1000, `close() took ${took.toFixed(0)} ms`);
    assert.equal(server.count(account!.pub), 0, "the queued push was dropped");
  });

  await t.step("beforeStop() returns once the server no longer lists the connection", async () => {
    await using admin = adminJobs(setup);
    admin.jobs.start();
    await waitForPushes(admin, 1);
    await admin.jobs.beforeStop();
    const connz = await monitor<{ connections?: { name?: string }[] }>(
      setup.options.monitorPort,
      "connz?limit=1024",
    );
    assert.deepEqual(connz.connections?.filter((c) => c.name === "pot-nats"), []);
  });
});

Deno.test("AdminJobs with no server to reach: close() ends at once with work queued", async () => {
  await using setup = await tempSetup();
  await using admin = adminJobs(setup, {
    env: { NATS_CLIENT_URL: `nats://127.0.0.1:${freePort()}` },
  });
  admin.jobs.start();
  const [account] = await newAccounts(setup, "queued");
  admin.jobs.onJwtChanges(written(account!));
  const start = now();
  await admin.jobs.close();
  const took = now() - start;
  assert.ok(took < 1000, `close() took ${took.toFixed(0)} ms`);
  assert.deepEqual(admin.pushes(), []);
});

Deno.test("AdminJobs without NATS_SYS_USER_CRED_PATH", async (t) => {
  await using setup = await tempSetup();
  const env = { NATS_SYS_USER_CRED_PATH: "" };

  await t.step("says once at start that push, delete and purge are off", async () => {
    await using admin = adminJobs(setup, { env });
    admin.jobs.start();
    assert.deepEqual(admin.entries.map((e) => [e.level, e.msg]), [[
      "info",
      "NATS_SYS_USER_CRED_PATH is not set: claims push, live account delete and JetStream purge " +
      "are off",
    ]]);
  });

  await t.step(
    "warns that changed JWTs are not applied live; new ones need no push",
    async () => {
      await using admin = adminJobs(setup, { env });
      admin.jobs.start();
      const [account] = await newAccounts(setup, "unpushed");
      // A new account is loaded from the resolver dir on first use: nothing to say.
      admin.jobs.onJwtChanges(written(account!));
      admin.jobs.onJwtChanges({ ...written(account!), added: [], changed: [account!.pub] });
      const warnings = admin.entries.filter((e) => e.level === "warn");
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /cannot be applied live/);
      assert.equal(warnings[0]!.hint, "set NATS_SYS_USER_CRED_PATH so pot-nats pushes them");
    },
  );

  await t.step("a removed account stays loaded: said once per account, with the fix", async () => {
    await using admin = adminJobs(setup, { env });
    const [a, b] = await newAccounts(setup, "a", "b");
    await admin.jobs.deleteRemoved([a!.pub]);
    await admin.jobs.deleteRemoved([a!.pub, b!.pub]);
    const warnings = admin.entries.filter((e) => e.level === "warn");
    assert.deepEqual(warnings.map((e) => e.msg), [
      `account ${a!.pub} left the mount; it stays loaded until nats-server restarts`,
      `account ${b!.pub} left the mount; it stays loaded until nats-server restarts`,
    ]);
    assert.equal(
      warnings[0]!.hint,
      "set POT_NATS_OPERATOR_SIGNING_KEY to delete removed accounts live",
    );
  });

  await t.step("with a signing key but no connection, the hint names the connection", async () => {
    const keyFile = join(setup.dir, "signing.nk");
    Deno.writeTextFileSync(keyFile, setup.operator.signingKey!.seed);
    await using admin = adminJobs(setup, {
      env: { ...env, POT_NATS_OPERATOR_SIGNING_KEY: keyFile },
    });
    const [account] = await newAccounts(setup, "c");
    await admin.jobs.deleteRemoved([account!.pub]);
    const [warning] = admin.entries.filter((e) => e.level === "warn");
    assert.equal(warning?.hint, "the admin connection is down; see its log lines");
  });
});
