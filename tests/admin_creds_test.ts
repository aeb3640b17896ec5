/**
 * End-to-end: wrong admin creds of every kind, through main.ts and a real nats-server. The admin
 * connection must never act as anyone but a system account user, must say once (naming the creds
 * file) what is wrong, must let pushes and purges wait instead of failing them, and must recover
 * without a restart once the file holds the system creds. The demo account's stream keeps every
 * message throughout.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { createStream, streamMessages } from "./_helpers/jetstream.ts";
import { makeAccount, makeOperator, makeUser } from "../dev/jwt_fixtures.ts";
import { monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";
import { runSupervisor, type SupervisorRun } from "../dev/supervisor_run.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;
/** Any sign of a push or a purge having been tried, successful or not. */
const ADMIN_WORK = /pushed account JWTs|account JWT push|JetStream purge|purged the JetStream/;

/** `$JS.API.INFO` as a user of the account: the JetStream limits the server enforces now. */
async function maxStreams(nc: NatsConnection): Promise<number | undefined> {
  const reply = await nc.request("$JS.API.INFO", "", { timeout: 2000 });
  return (reply.json() as { limits?: { max_streams?: number } }).limits?.max_streams;
}

/**
 * Mounts a new demo account JWT with `max_streams` and waits until the running server enforces
 * it: only a claims push over a working admin connection can do that.
 */
async function pushIsInForce(setup: TempSetup, demo: NatsConnection, streams: number) {
  const updated = await makeAccount(setup.operator, {
    name: "demo",
    key: setup.demo.kp,
    signer: setup.operator.signingKey!.kp,
    limits: { streams },
  });
  await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt + "\n");
  await pollUntil(`max_streams ${streams} in force`, async () => {
    return (await maxStreams(demo)) === streams;
  });
}

/**
 * A demo account user that reconnects by itself: a change in the creds dir makes the supervisor
 * send SIGHUP, and nats-server 2.10 then disconnects every client.
 */
function connectDemo(setup: TempSetup): Promise<NatsConnection> {
  return connect({
    servers: setup.clientUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(setup.demoUser.creds)),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 50,
    timeout: 2000,
  });
}

/** The supervisor's own error lines (not nats-server's) that name `text`, from line `from` on. */
function errorsNaming(run: SupervisorRun, text: string, from = 0): string[] {
  return run.lines.slice(from).filter((line) =>
    line.startsWith("[pot-nats]") && / ERR /.test(line) && line.includes(text)
  );
}

/** The names of the connections the server lists now. */
async function connectionNames(setup: TempSetup): Promise<string[]> {
  const connz = await monitor<{ connections?: { name?: string }[] }>(
    setup.options.monitorPort,
    "connz?limit=1024",
  );
  return (connz.connections ?? []).map((connection) => connection.name ?? "");
}

Deno.test("admin creds of another account's user are refused, and the system creds recover without a restart", async () => {
  await using setup = await tempSetup();
  const credsPath = join(setup.credsDir, "sys.creds");
  await Deno.writeTextFile(credsPath, setup.demoUser.creds, { mode: 0o600 });
  await using run = runSupervisor({ env: setup.env });

  const refusal = await run.waitForLine(new RegExp(`ERR .*${escape(credsPath)}`));
  assert.match(refusal, new RegExp(setup.demo.pub), "the error names the account of the creds");
  const demo = await connectDemo(setup);
  try {
    await createStream(demo, "KEEP", 3);
    // The wrong connection is closed, and nothing was tried over it.
    await pollUntil("the wrong admin connection to be closed", async () => {
      return !(await connectionNames(setup)).includes("pot-nats");
    });
    assert.deepEqual(run.lines.filter((line) => ADMIN_WORK.test(line)), [], run.transcript());

    const from = run.lines.length;
    await writeFileAtomic(credsPath, setup.sysUser.creds);
    await run.waitForLine(PUSHED, { from });
    await pushIsInForce(setup, demo, 7);

    assert.equal(errorsNaming(run, credsPath).length, 1, run.transcript());
    assert.equal(run.count(/nats-server started/), 1, "recovered without a restart");
    assert.equal(await streamMessages(demo, "KEEP"), 3);
  } finally {
    await demo.close();
  }
});

Deno.test("every kind of wrong admin creds is named in one error and recovers once the file is fixed", async (t) => {
  await using setup = await tempSetup();
  const credsPath = join(setup.credsDir, "sys.creds");
  const stranger = await makeOperator({ name: "stranger" });
  const strangerAccount = await makeAccount(stranger, { name: "x", jetstream: false });
  const kinds: [string, () => Promise<string | undefined>, RegExp][] = [
    ["a missing file", () => Promise.resolve(undefined), /No such file|not found/i],
    ["garbage", () => Promise.resolve("not a creds file\n"), /no usable creds/],
    [
      "a user of a foreign operator",
      async () => (await makeUser(strangerAccount, { name: "intruder" })).creds,
      /Authorization Violation/i,
    ],
    [
      "a system user whose JWT has expired",
      async () =>
        (await makeUser(setup.system, {
          name: "expired",
          exp: Math.floor(Date.now() / 1000) - 60,
        })).creds,
      /Authorization Violation|expired/i,
    ],
    [
      "a valid user of another account",
      () => Promise.resolve(setup.demoUser.creds),
      new RegExp(setup.demo.pub),
    ],
  ];

  await Deno.remove(credsPath);
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(/Server is ready/);
  const demo = await connectDemo(setup);
  try {
    await createStream(demo, "KEEP", 2);
    let streams = 10;
    for (const [index, [kind, wrongCreds, reason]] of kinds.entries()) {
      await t.step(`${kind}: one error naming the file, then recovery`, async () => {
        // The first kind is there from the start; the others replace working creds (a rotation).
        const from = index === 0 ? 0 : run.lines.length;
        if (index > 0) {
          const creds = await wrongCreds();
          await writeFileAtomic(credsPath, creds!);
        }
        const error = await run.waitForLine(new RegExp(`ERR .*${escape(credsPath)}`), { from });
        assert.match(error, reason);
        await pollUntil("the admin connection to be closed", async () => {
          return !(await connectionNames(setup)).includes("pot-nats");
        });
        const fixedAt = run.lines.length;
        await writeFileAtomic(credsPath, setup.sysUser.creds);
        await run.waitForLine(/admin connection established/, { from: fixedAt });
        await pushIsInForce(setup, demo, ++streams);
        assert.equal(errorsNaming(run, credsPath, from).length, 1, run.transcript());
      });
    }
    assert.equal(run.count(/nats-server started/), 1, "every recovery without a restart");
    assert.equal(await streamMessages(demo, "KEEP"), 2);
  } finally {
    await demo.close();
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
