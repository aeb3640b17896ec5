/**
 * End-to-end: leaf mode the way the edge runs it. A plain hub nats-server and a leaf nats-server
 * supervised by pot-nats (`main.ts`, `NATS_SERVER_MODE=leaf`), both in operator mode with a full
 * resolver and JetStream in their own domains, joined by a leafnode connection (over TLS where
 * openssl runs); clients on both sides (see `dev/leaf_topology.ts`). One topology serves every
 * step, in order.
 *
 * What nats-server itself does differs by version, and the steps assert the truth for the version
 * under test: on 2.10 every SIGHUP in operator mode disconnects all clients (they reconnect by
 * themselves; the leafnode connection stays), while 2.15 keeps them.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { hasJetStreamData } from "../src/purge/jetstream_data.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { serverVersion } from "../src/server/server_binary.ts";
import { getMonitor } from "../src/shared/monitor.ts";
import { makeCertificates } from "../dev/certificates.ts";
import { makeAccount, makeUser, untilNewerThan } from "../dev/jwt_fixtures.ts";
import { connectReconnecting, connectWithCreds, recordStatus } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { HUB_CA_FILE, type LeafTopology, startLeafTopology } from "../dev/leaf_topology.ts";
import { connectionKey, measureLeafRestart } from "../dev/leaf_restart.ts";
import { createStream, streamMessages } from "./_helpers/jetstream.ts";
import { natsServerBin } from "./_helpers/setup.ts";

const RESTARTING = /restarting nats-server to apply the change/;
const STARTED = /nats-server started/;
const RELOADED = /nats-server reloaded its configuration/;
/** Generous: the whole suite runs test files in parallel on two cores. */
const SLOW_MS = 30_000;
const GRACE_SECONDS = 2;

/** Answers every request on `subject` with `reply`. */
function respond(nc: NatsConnection, subject: string, reply: string): void {
  nc.subscribe(subject, { callback: (_error, msg) => void msg.respond(reply) });
}

/** Requests until answered: interest crosses the leafnode connection a moment after a subscribe. */
async function requestUntilAnswered(nc: NatsConnection, subject: string): Promise<string> {
  return await pollUntil(`an answer on ${subject}`, async () => {
    const reply = await nc.request(subject, "ping", { timeout: 500 });
    return reply.string();
  }, { timeoutMs: SLOW_MS });
}

/** The JetStream account info the connection's server gives: its domain and limits. */
async function jetStreamInfo(
  nc: NatsConnection,
): Promise<{ domain?: string; limits?: { max_streams?: number } }> {
  return (await nc.request("$JS.API.INFO", "", { timeout: 5000 })).json();
}

/** The payloads of the first `count` messages of `stream`, by sequence number. */
async function storedPayloads(nc: NatsConnection, stream: string, count: number) {
  const payloads: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const reply = (await nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq }), {
      timeout: 5000,
    })).json<{ message?: { data?: string }; error?: unknown }>();
    assert.ok(reply.message?.data, `${stream} seq ${seq}: ${JSON.stringify(reply.error)}`);
    payloads.push(atob(reply.message.data));
  }
  return payloads;
}

/** The hub's leaf connections from the leaf, as keys that change when a connection is new. */
async function hubConnections(topology: LeafTopology): Promise<string[]> {
  return (await topology.hub.leafz()).filter((entry) => entry.name === "leaf").map(connectionKey)
    .sort();
}

Deno.test("leaf mode on a real hub and leaf: flow, pushes, reloads, restarts, purge, hub outage", async (t) => {
  const serverBin = await natsServerBin();
  const version = await serverVersion(serverBin);
  /** nats-server 2.10 disconnects every client on a SIGHUP in operator mode; 2.15 does not. */
  const sighupDropsClients = version.startsWith("2.10.");
  await using topology = await startLeafTopology({
    serverBin,
    env: { POT_NATS_PURGE_GRACE_SECONDS: String(GRACE_SECONDS) },
  });
  const { hub, leaf, run } = topology;
  const leafUrl = leaf.clientUrl;
  const demoCreds = leaf.demoUser.creds;

  const hubNc = await connectReconnecting(hub.setup.clientUrl, demoCreds);
  const leafNc = await connectReconnecting(leafUrl, demoCreds);
  const leafStatus = recordStatus(leafNc);
  const fastNc = await connectReconnecting(leafUrl, demoCreds, {
    reconnectTimeWait: 50,
    reconnectJitter: 0,
  });
  const fastStatus = recordStatus(fastNc);
  await using _clients = {
    async [Symbol.asyncDispose]() {
      await Promise.all([hubNc, leafNc, fastNc].map((nc) => nc.close()));
    },
  };
  respond(hubNc, "at.hub", "hub");
  respond(leafNc, "at.leaf", "leaf");

  await t.step("1. messages flow leaf -> hub and hub -> leaf in an account on both", async () => {
    assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");
    assert.equal(await requestUntilAnswered(hubNc, "at.leaf"), "leaf");
    // Plain publishes too, each way, to a subscriber on the other side.
    for (const [from, to] of [[leafNc, hubNc], [hubNc, leafNc]] as const) {
      const subject = `flow.${crypto.randomUUID()}`;
      const received: string[] = [];
      to.subscribe(subject, {
        callback: (_error, msg) => void received.push(msg.string()),
      });
      await to.flush();
      await pollUntil("a message to cross", () => {
        from.publish(subject, "across");
        return received.length > 0;
      }, { intervalMs: 100 });
      assert.equal(received[0], "across");
    }
    // Each side has its own JetStream domain.
    assert.equal((await jetStreamInfo(leafNc)).domain, "leaf");
    assert.equal((await jetStreamInfo(hubNc)).domain, "hub");
  });

  await t.step(
    "2. a JWT change in the leaf's mount is pushed and in force; the link stays",
    async () => {
      const from = run.lines.length;
      const mark = performance.now();
      const pid = run.serverPid();
      const links = await hubConnections(topology);
      assert.equal((await jetStreamInfo(leafNc)).limits?.max_streams, -1);
      // A JWT is only ever replaced by a newer one: issue it a second later.
      await untilNewerThan(leaf.demo.jwt);
      const updated = await makeAccount(leaf.operator, {
        name: "demo",
        key: leaf.demo.kp,
        signer: leaf.operator.signingKey!.kp,
        limits: { streams: 7 },
      });
      await writeFileAtomic(join(leaf.mountDir, `${leaf.demo.pub}.jwt`), `${updated.jwt}\n`);
      await pollUntil(
        "the new limits in force on the leaf",
        async () => (await jetStreamInfo(leafNc)).limits?.max_streams === 7,
        { timeoutMs: SLOW_MS },
      );
      await run.waitForLine(/pushed account JWTs to the server accounts=1 failed=0/, { from });
      // The hub's copy of the account is the hub's business: the leaf pushed to itself only.
      assert.equal((await jetStreamInfo(hubNc)).limits?.max_streams, -1);
      assert.deepEqual(await hubConnections(topology), links, "the leafnode connection stayed");
      assert.equal(run.serverPid(), pid);
      assert.equal(run.count(RESTARTING), 0);
      assert.equal(leafStatus.first("disconnect", mark), undefined);
      assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");
    },
  );

  await t.step({
    name: `3. a TLS change reloads with SIGHUP; ${
      sighupDropsClients
        ? "nats-server 2.10 disconnects every local client, which reconnect by themselves"
        : "no local client is disconnected"
    }; the link stays`,
    ignore: !topology.tls,
    fn: async () => {
      const from = run.lines.length;
      const mark = performance.now();
      const pid = run.serverPid();
      const links = await hubConnections(topology);
      // A CA rotation: the bundle gains the next CA and keeps the current one.
      const next = join(topology.dir, "next-ca");
      await Deno.mkdir(next);
      await makeCertificates(next);
      const current = await Deno.readTextFile(join(leaf.sslDir, HUB_CA_FILE));
      await topology.writeTls({
        [HUB_CA_FILE]: current + await Deno.readTextFile(join(next, "ca.crt")),
      });
      assert.match(await run.waitForLine(RELOADED, { from }), /causes=tls$/);
      assert.equal(run.serverPid(), pid, "no restart");
      if (sighupDropsClients) {
        for (const [name, status] of [["default", leafStatus], ["fast", fastStatus]] as const) {
          const dropped = await pollUntil(
            "nats-server 2.10 to drop the client on the SIGHUP",
            () => status.first("disconnect", mark),
          );
          const back = await pollUntil(
            "the client to reconnect by itself",
            () => status.first("reconnect", dropped.at),
            { timeoutMs: SLOW_MS },
          );
          console.log(`${name} client back ${(back.at - dropped.at).toFixed(1)} ms after the drop`);
        }
      } else {
        // A round trip on each local client after the reload: a dropped one has noticed by then.
        await Promise.all([leafNc.flush(), fastNc.flush()]);
        assert.equal(leafStatus.first("disconnect", mark), undefined);
        assert.equal(fastStatus.first("disconnect", mark), undefined);
      }
      assert.deepEqual(await hubConnections(topology), links, "the leafnode connection stayed");
      assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");
    },
  });

  const ops = await topology.addSharedAccount("ops");
  const opsUser = await makeUser(ops.account, { name: "ops-remote" });
  await createStream(leafNc, "KEEP", 5);

  await t.step(
    "4a. a creds file in a directory under NATS_CREDS_DIR is watched: it restarts",
    async () => {
      const from = run.lines.length;
      const pid = run.serverPid()!;
      await pollUntil(
        "the ops account mirrored",
        () => pathExists(join(leaf.jwtDir, `${ops.account.pub}.jwt`)),
      );
      await topology.writeCreds({ "leafnode/ops.creds": opsUser.creds });
      assert.match(
        await run.waitForLine(RESTARTING, { from, timeoutMs: SLOW_MS }),
        /causes=creds$/,
      );
      await run.waitForLine(STARTED, { from });
      assert.notEqual(run.serverPid(), pid);
      await topology.waitForHubToSeeLeaf({ timeoutMs: SLOW_MS });
    },
  );

  await t.step(
    "4b. a new remote restarts nats-server: outage measured, nothing stored lost",
    async () => {
      const from = run.lines.length;
      await pollUntil(
        "the leaf client back after 4a",
        async () => (await streamMessages(leafNc, "KEEP")) === 5,
        { timeoutMs: SLOW_MS },
      );
      const figures = await measureLeafRestart(topology, {
        change: () =>
          Deno.writeTextFile(
            leaf.confPath,
            topology.leafConfig([
              { account: leaf.demo.pub },
              { account: ops.account.pub, credsPath: "leafnode/ops.creds" },
            ]),
          ),
        clients: {
          normal: { nc: leafNc, status: leafStatus },
          fast: { nc: fastNc, status: fastStatus },
        },
        subject: "KEEP.probe",
        timeoutMs: SLOW_MS,
      });
      console.log(`nats-server ${version}, leaf restart: ${JSON.stringify(figures)}`);
      assert.match(
        run.lines.slice(from).find((line) => RESTARTING.test(line)) ?? "",
        /causes=config$/,
      );
      assert.equal(
        run.lines.slice(from).filter((line) => STARTED.test(line)).length,
        1,
      );
      // The new remote is in force: the hub sees both.
      const links = await topology.waitForHubToSeeLeaf({ count: 2, timeoutMs: SLOW_MS });
      assert.deepEqual(
        links.map((link) => link.account).sort(),
        [leaf.demo.pub, ops.account.pub].sort(),
      );
      // What was stored before the restart is all there, and the probes' publishes after it.
      assert.deepEqual(
        await storedPayloads(leafNc, "KEEP", 5),
        [0, 1, 2, 3, 4].map((i) => `message ${i}`),
      );
      assert.ok((await streamMessages(leafNc, "KEEP")) >= 7);
      assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");
      // A subscription made before the restart is served again (the client resent it).
      assert.equal(await requestUntilAnswered(hubNc, "at.leaf"), "leaf");
      // The measured figures, loosely: a supervisor that waited for a stop timeout would fail here.
      assert.ok(figures.fastClientOutageMs < 5000, JSON.stringify(figures));
      assert.ok(figures.hubResightMs < 5000, JSON.stringify(figures));
      assert.ok(figures.clientOutageMs < 10_000, JSON.stringify(figures));
      assert.ok(!run.exited);
    },
  );

  await t.step(
    "5. an account removed from the leaf's mount is purged on the leaf only",
    async () => {
      const kept = await streamMessages(leafNc, "KEEP");
      const victim = await topology.addSharedAccount("victim");
      await pollUntil(
        "the victim mirrored",
        () => pathExists(join(leaf.jwtDir, `${victim.account.pub}.jwt`)),
      );
      const onLeaf = await pollUntil(
        "a victim user on the leaf",
        () => connectWithCreds(leafUrl, victim.user.creds),
        { timeoutMs: SLOW_MS },
      );
      const onHub = await connectWithCreds(hub.setup.clientUrl, victim.user.creds);
      try {
        await createStream(onLeaf, "GONE", 2);
        await createStream(onHub, "GONE", 3);
      } finally {
        await onLeaf.close();
      }
      const leafData = join(leaf.storeDir, "jetstream", victim.account.pub);
      const hubData = join(hub.setup.storeDir, "jetstream", victim.account.pub);
      assert.ok(await hasJetStreamData(leafData));
      assert.ok(await hasJetStreamData(hubData));

      const from = run.lines.length;
      const removedAt = Date.now();
      await Deno.remove(join(leaf.mountDir, `${victim.account.pub}.jwt`));
      // The same guards as in server mode: the grace period first.
      await run.waitForLine(
        new RegExp(`account ${victim.account.pub} has JetStream data but no JWT`),
        { from, timeoutMs: SLOW_MS },
      );
      assert.ok(await hasJetStreamData(leafData), "kept during the grace period");
      await run.waitForLine(
        new RegExp(`purged the JetStream data of account ${victim.account.pub}`),
        { from, timeoutMs: SLOW_MS },
      );
      assert.ok(Date.now() - removedAt >= GRACE_SECONDS * 1000, "not before the grace ended");
      assert.equal(await hasJetStreamData(leafData), false);
      // The hub's data of the account, and the leaf's other accounts, are untouched.
      try {
        assert.ok(await hasJetStreamData(hubData));
        assert.equal(await streamMessages(onHub, "GONE"), 3);
        assert.ok(await pathExists(join(hub.setup.jwtDir, `${victim.account.pub}.jwt`)));
      } finally {
        await onHub.close();
      }
      assert.equal(await streamMessages(leafNc, "KEEP"), kept);
    },
  );

  await t.step("6. the hub away and back: the leaf serves on, the supervisor stays", async () => {
    const from = run.lines.length;
    const pid = run.serverPid();
    const mark = performance.now();
    await hub.stop();
    // Local service for a while, across the leaf's reconnect attempts (one a second).
    const until = Date.now() + 3000;
    let stored = await streamMessages(leafNc, "KEEP");
    while (Date.now() < until) {
      assert.equal(await requestUntilAnswered(fastNc, "at.leaf"), "leaf");
      await leafNc.request("KEEP.offline", "stored while the hub is away", { timeout: 2000 });
      stored++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(await streamMessages(leafNc, "KEEP"), stored);
    assert.equal(leafStatus.first("disconnect", mark), undefined);
    // The probes of examples/kubernetes/leaf pass without the hub.
    for (const path of ["healthz", "healthz?js-enabled-only=true", "healthz?js-server-only=true"]) {
      const health = await getMonitor(leaf.options.monitorPort, path);
      assert.equal(health.status, 200, `${path}: ${health.text}`);
    }
    await hub.start();
    await topology.waitForHubToSeeLeaf({ count: 2, timeoutMs: SLOW_MS });
    assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");
    assert.equal(await requestUntilAnswered(hubNc, "at.leaf"), "leaf");
    assert.equal(run.serverPid(), pid);
    assert.deepEqual(
      run.lines.slice(from).filter((line) => RESTARTING.test(line) || STARTED.test(line)),
      [],
    );
    assert.ok(!run.exited);
  });

  await t.step({
    name: "7. a broken TLS file arriving with a creds change is tested first and not applied",
    ignore: !topology.tls,
    fn: async () => {
      const pid = run.serverPid();
      const links = await hubConnections(topology);
      const from = run.lines.length;
      const good = await Deno.readTextFile(join(leaf.sslDir, HUB_CA_FILE));
      const rotated = await makeUser(leaf.demo, { name: "leaf-remote-2" });
      // The CA first: in one pass with the creds, or in a pass of its own just before (a SIGHUP
      // the server refuses), the restart the creds ask for must be refused.
      await topology.writeTls({ [HUB_CA_FILE]: "not a certificate\n" });
      await topology.writeCreds({ "leafnode/hub.creds": rotated.creds });
      const rejected = await run.waitForLine(/is invalid; not applied/, {
        from,
        timeoutMs: SLOW_MS,
      });
      assert.match(rejected, /failed to parse root ca certificate/);
      assert.equal(run.serverPid(), pid, "the old server keeps serving");
      assert.equal(run.lines.slice(from).filter((line) => RESTARTING.test(line)).length, 0);
      assert.ok(!run.exited);
      assert.deepEqual(await hubConnections(topology), links);
      assert.equal(await requestUntilAnswered(leafNc, "at.hub"), "hub");

      // Fixed: the creds change waiting since then is applied with a restart.
      const fixed = run.lines.length;
      await topology.writeTls({ [HUB_CA_FILE]: good });
      await run.waitForLine(RESTARTING, { from: fixed, timeoutMs: SLOW_MS });
      await run.waitForLine(STARTED, { from: fixed });
      await topology.waitForHubToSeeLeaf({ count: 2, timeoutMs: SLOW_MS });
      assert.ok(!run.exited);
    },
  });
});
