/**
 * End-to-end: the supervisor works only with its own nats-server. A second supervisor on the same
 * ports refuses to start and never touches the first one's server; a nats-server that exits (at
 * start, or while a push is in flight) makes the supervisor exit at once with its status; an admin
 * connection that reaches another server is refused.
 */

import assert from "node:assert/strict";
import { freePort } from "../dev/ports.ts";
import { join } from "node:path";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { createStream, streamMessages } from "./_helpers/jetstream.ts";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { startNatsServer } from "./_helpers/nats_server.ts";
import { pollUntil } from "../dev/poll.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;
/** How long an exit may take once its cause is there; the companions' old stall was 5 s. */
const PROMPT_EXIT_MS = 1500;

interface Connz {
  connections?: { cid: number; name?: string }[];
}

/** The cids of the connections named "pot-nats" the server lists in `state` (open or closed). */
async function adminCids(setup: TempSetup, state: "open" | "closed"): Promise<number[]> {
  const connz = await monitor<Connz>(setup.options.monitorPort, `connz?state=${state}&limit=1024`);
  return (connz.connections ?? []).filter((c) => c.name === "pot-nats").map((c) => c.cid);
}

/**
 * Another setup on its own ports whose server trusts the same operator and has the same system
 * account as `setup`'s: `setup`'s system creds work on both servers.
 */
async function sameTrustSetup(setup: TempSetup): Promise<TempSetup> {
  const other = await tempSetup();
  for (const file of ["operator.jwt", join("config", "accounts.conf")]) {
    await Deno.copyFile(join(setup.dir, file), join(other.dir, file));
  }
  return other;
}

Deno.test("a second supervisor on the same ports refuses to start and leaves the first server alone", async (t) => {
  await using setup = await tempSetup();
  await using first = runSupervisor({ env: setup.env });
  await first.waitForLine(PUSHED);
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  try {
    await createStream(demo, "KEEP", 5);
    const ownAdmin = await adminCids(setup, "open");
    assert.equal(ownAdmin.length, 1);
    const closedBefore = await adminCids(setup, "closed");

    await t.step("same config: refused for the client port, fast", async () => {
      const started = performance.now();
      // Its own HTTP endpoint port, so that the client port is the first thing found taken.
      await using second = runSupervisor({
        env: { ...setup.env, POT_NATS_HTTP_PORT: String(freePort()) },
      });
      const status = await second.status;
      const ms = Math.round(performance.now() - started);
      assert.equal(status.code, 1, second.transcript());
      assert.match(
        second.transcript(),
        new RegExp(
          `127\\.0\\.0\\.1:${setup.options.clientPort}.*port.*another nats-server or pot-nats`,
        ),
      );
      assert.equal(second.count(/nats-server started/), 0, second.transcript());
      // Nothing but Deno's start-up and a refused connect: well under the old 1-5 s.
      assert.ok(ms < 3000, `exited after ${ms} ms`);
    });

    await t.step(
      "another client port, same monitor port: refused for NATS_MONITOR_PORT",
      async () => {
        await using other = await tempSetup({ monitorPort: setup.options.monitorPort });
        await using second = runSupervisor({ env: other.env });
        assert.equal((await second.status).code, 1, second.transcript());
        assert.match(
          second.transcript(),
          new RegExp(`127\\.0\\.0\\.1:${setup.options.monitorPort}.*NATS_MONITOR_PORT`),
        );
        assert.equal(second.count(/nats-server started/), 0, second.transcript());
      },
    );

    await t.step("the first server never saw the second supervisor and still serves", async () => {
      assert.deepEqual(await adminCids(setup, "open"), ownAdmin);
      assert.deepEqual(await adminCids(setup, "closed"), closedBefore);
      assert.equal(first.exited, false);
      assert.equal(await streamMessages(demo, "KEEP"), 5);
      // The first supervisor's own admin work still goes through.
      const updated = await makeAccount(setup.operator, {
        name: "demo",
        key: setup.demo.kp,
        signer: setup.operator.signingKey!.kp,
        limits: { streams: 9 },
      });
      const from = first.lines.length;
      await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt + "\n");
      await first.waitForLine(PUSHED, { from });
    });
  } finally {
    await demo.close();
  }
});

Deno.test("a nats-server that exits during start makes the supervisor exit at once with its status", async () => {
  await using setup = await tempSetup();
  const bin = join(setup.dir, "exits-3.sh");
  await Deno.writeTextFile(bin, "#!/bin/sh\nexit 3\n", { mode: 0o755 });
  await using run = runSupervisor({ env: { ...setup.env, NATS_SERVER_BIN: bin } });
  await run.waitForLine(/exited unexpectedly/);
  const seen = performance.now();
  const status = await run.status;
  const ms = Math.round(performance.now() - seen);
  assert.equal(status.code, 3, run.transcript());
  assert.ok(ms < PROMPT_EXIT_MS, `exited ${ms} ms after nats-server did\n${run.transcript()}`);
});

Deno.test("a nats-server that dies while the admin connection is connecting makes the supervisor exit at once", async () => {
  await using setup = await tempSetup();
  // Accepts connections and never says a word, like a server that hangs: a NATS connect to it
  // waits for the server's INFO until its timeout.
  using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })().catch(() => {/* the listener closed */});
  try {
    await using run = runSupervisor({
      env: { ...setup.env, NATS_CLIENT_URL: `nats://127.0.0.1:${silent.addr.port}` },
    });
    await run.waitForLine(/Server is ready/);
    await pollUntil("the admin connection to be connecting", () => accepted.length > 0);
    Deno.kill(run.serverPid()!, "SIGKILL");
    const killed = performance.now();
    const status = await run.status;
    const ms = Math.round(performance.now() - killed);
    assert.equal(status.code, 137, run.transcript());
    assert.ok(ms < PROMPT_EXIT_MS, `exited ${ms} ms after nats-server died\n${run.transcript()}`);
  } finally {
    silent.close();
    for (const conn of accepted) conn.close();
    await accepting;
  }
});

Deno.test("a nats-server that dies while a claims push is in flight makes the supervisor exit at once", async () => {
  await using setup = await tempSetup();
  // The push goes to another server that stops answering (with the monitor off, nothing tells
  // it from the child): its flush stays pending when the child dies and the connection closes.
  await using other = await sameTrustSetup(setup);
  await using foreign = await startNatsServer(other, { mirrorDemoJwt: false });
  await using run = runSupervisor({
    env: { ...setup.env, NATS_CLIENT_URL: foreign.url, NATS_MONITOR_PORT: "0" },
  });
  await run.waitForLine(PUSHED);
  Deno.kill(foreign.pid, "SIGSTOP");
  try {
    const updated = await makeAccount(setup.operator, {
      name: "demo",
      key: setup.demo.kp,
      signer: setup.operator.signingKey!.kp,
      limits: { streams: 4 },
    });
    const from = run.lines.length;
    await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt + "\n");
    await run.waitForLine(/JWT mirror applied .*changed=1/, { from });
    Deno.kill(run.serverPid()!, "SIGKILL");
    const killed = performance.now();
    const status = await run.status;
    const ms = Math.round(performance.now() - killed);
    assert.equal(status.code, 137, run.transcript());
    assert.ok(ms < PROMPT_EXIT_MS, `exited ${ms} ms after nats-server died\n${run.transcript()}`);
  } finally {
    Deno.kill(foreign.pid, "SIGCONT");
  }
});

Deno.test("an admin connection that reaches another server than the child is refused", async () => {
  await using setup = await tempSetup();
  await using other = await sameTrustSetup(setup);
  await using foreign = await startNatsServer(other, { mirrorDemoJwt: false });
  const foreignId = (await monitor<{ server_id: string }>(other.options.monitorPort, "varz"))
    .server_id;

  await using run = runSupervisor({ env: { ...setup.env, NATS_CLIENT_URL: foreign.url } });
  await run.waitForLine(/Server is ready/);
  const demo = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  try {
    await createStream(demo, "KEEP", 4);
    const refusal = await run.waitForLine(new RegExp(`ERR .*${foreignId}`));
    assert.match(refusal, /not the one this supervisor runs/);
    await pollUntil("the foreign server to drop the admin connection", async () => {
      return (await adminCids(other, "open")).length === 0;
    });
    assert.equal(run.count(/pushed account JWTs|account JWT push|purge/), 0, run.transcript());
    assert.equal(run.exited, false);
    assert.equal(await streamMessages(demo, "KEEP"), 4);
  } finally {
    await demo.close();
  }
});
