/**
 * End-to-end: a three-node nats-server cluster with JetStream, each node run by its own supervisor
 * (`main.ts`), all with the same operator, accounts and mount. What one node's supervisor pushes
 * must be in force on every node, and a removed account's replicated data must be purged from
 * every node's disk while other accounts' replicated data stays. Every check asks each node
 * itself (its monitor port, its resolver dir, its store dir), never just whichever server answers.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { hasJetStreamData } from "../src/purge/jetstream_data.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { type ClusterNode, startCluster } from "./_helpers/cluster.ts";
import { makeAccount, makeUser, untilNewerThan } from "../dev/jwt_fixtures.ts";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;
/** Generous: the whole suite runs test files in parallel on two cores. */
const SLOW_MS = 30_000;

/** What this node's server has loaded for `account` (`/accountz?acc=`): its JWT and claims. */
async function loadedAccount(
  node: ClusterNode,
  account: string,
): Promise<{ jwt?: string; streams?: number }> {
  const accountz = await monitor<{
    account_detail?: { jwt?: string; decoded_jwt?: { nats?: { limits?: { streams?: number } } } };
  }>(node.options.monitorPort, `accountz?acc=${account}`);
  const detail = accountz.account_detail;
  return { jwt: detail?.jwt, streams: detail?.decoded_jwt?.nats?.limits?.streams };
}

/** The JWT this node's resolver dir holds for `account`, trimmed; undefined when there is none. */
async function resolverJwt(node: ClusterNode, account: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(join(node.jwtDir, `${account}.jwt`))).trim();
  } catch {
    return undefined;
  }
}

/** Messages of `stream` in this node's own replica (`/jsz`), undefined when it has none. */
async function localMessages(
  node: ClusterNode,
  account: string,
  stream: string,
): Promise<number | undefined> {
  const jsz = await monitor<{
    account_details?: { stream_detail?: { name: string; state?: { messages?: number } }[] }[];
  }>(node.options.monitorPort, `jsz?acc=${account}&streams=true`);
  const details = jsz.account_details?.flatMap((account) => account.stream_detail ?? []) ?? [];
  return details.find((detail) => detail.name === stream)?.state?.messages;
}

/** For a failed wait: what each supervisor logged about purges, and what is left on each disk. */
async function purgeReport(nodes: ClusterNode[], account: string, from: number[]): Promise<string> {
  const report: string[] = [];
  for (const [index, node] of nodes.entries()) {
    const left: string[] = [];
    for await (const entry of walk(accountDir(node, account))) left.push(entry);
    report.push(
      `--- ${node.name}: left under ${accountDir(node, account)}: ${left.join(", ") || "nothing"}`,
      ...node.run.lines.slice(from[index]).filter((line) => /purg|JetStream|account/i.test(line)),
    );
  }
  return report.join("\n");
}

/** For a failed wait: which JWT this node has loaded and stored, and what its supervisor logged. */
async function jwtReport(node: ClusterNode, account: string, from: number): Promise<string> {
  const loaded = await loadedAccount(node, account).catch((error) => ({ error: String(error) }));
  const stored = await resolverJwt(node, account);
  return [
    `--- ${node.name}: loaded ${JSON.stringify(loaded).slice(0, 400)}`,
    `--- ${node.name}: stored ${stored?.slice(-40) ?? "nothing"}`,
    ...node.run.lines.slice(from),
  ].join("\n");
}

async function* walk(dir: string, prefix = ""): AsyncGenerator<string> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      yield `${prefix}${entry.name}${entry.isDirectory ? "/" : ""}`;
      if (entry.isDirectory) yield* walk(join(dir, entry.name), `${prefix}${entry.name}/`);
    }
  } catch {
    // Gone, or going: nothing to list.
  }
}

function accountDir(node: ClusterNode, account: string): string {
  return join(node.storeDir, "jetstream", account);
}

/** Creates an R3 file stream `name` (subjects `<name>.>`) and stores `messages` messages in it. */
async function createReplicatedStream(
  nc: NatsConnection,
  name: string,
  messages: number,
): Promise<void> {
  // An account that has just been added answers "JetStream not enabled" for a moment.
  await pollUntil(`JetStream for the account creating ${name}`, async () => {
    const info = await nc.request("$JS.API.INFO", "", { timeout: SLOW_MS });
    return !(info.json() as { error?: unknown }).error;
  }, { timeoutMs: SLOW_MS });
  // On a loaded machine a node can miss its heartbeats and count as offline for a moment: the
  // meta leader then refuses an R3 placement ("no suitable peers"), which a retry gets past.
  await pollUntil(`stream ${name} to be created`, async () => {
    const created = await nc.request(
      `$JS.API.STREAM.CREATE.${name}`,
      JSON.stringify({
        name,
        subjects: [`${name.toLowerCase()}.>`],
        storage: "file",
        num_replicas: 3,
      }),
      { timeout: SLOW_MS },
    );
    const body = created.json() as { error?: { description: string } };
    if (!body.error) return true;
    if (/no suitable peers|peer offline/.test(body.error.description)) return false;
    throw new Error(`stream ${name}: ${body.error.description}`);
  }, { timeoutMs: SLOW_MS, intervalMs: 250 }).catch((error) => {
    throw new Error(`stream ${name}: ${(error as Error).message}`);
  });
  for (let i = 0; i < messages; i++) {
    const ack = await nc.request(`${name.toLowerCase()}.m`, `message ${i}`, { timeout: SLOW_MS });
    const reply = ack.json() as { error?: { description: string } };
    if (reply.error) throw new Error(`stream ${name}, message ${i}: ${reply.error.description}`);
  }
}

Deno.test("a three-node cluster, one supervisor per node: pushes and purges reach every node", async (t) => {
  await using cluster = await startCluster({ env: { POT_NATS_PURGE_GRACE_SECONDS: "1" } });
  const { nodes } = cluster;
  const [first] = nodes as [ClusterNode, ...ClusterNode[]];
  const { operator, demo } = first;
  const signer = operator.signingKey!.kp;
  // Every supervisor pushes its resolver dir once after start; wait for those pushes, so none can
  // land after (and undo) the update below.
  for (const node of nodes) await node.run.waitForLine(PUSHED, { timeoutMs: SLOW_MS });
  const demoConnections = await Promise.all(
    nodes.map((node) => connectWithCreds(node.clientUrl, node.demoUser.creds)),
  );
  await using _closeDemo = {
    async [Symbol.asyncDispose]() {
      await Promise.all(demoConnections.map((nc) => nc.close()));
    },
  };

  await t.step("a JWT changed in one node's mount is in force on every node", async () => {
    for (const node of nodes) {
      assert.equal((await loadedAccount(node, demo.pub)).streams, -1, node.name);
    }
    // A JWT is only ever replaced by a newer one: make sure the new one is issued a second later.
    await untilNewerThan(demo.jwt);
    const updated = await makeAccount(operator, {
      name: "demo",
      key: demo.kp,
      signer,
      limits: { streams: 9 },
    });
    const from = nodes.map((node) => node.run.lines.length);
    await writeFileAtomic(join(first.mountDir, `${demo.pub}.jwt`), updated.jwt + "\n");

    for (const [index, node] of nodes.entries()) {
      await pollUntil(`${node.name} to store and load the new demo JWT`, async () => {
        const loaded = await loadedAccount(node, demo.pub);
        return loaded.jwt === updated.jwt && loaded.streams === 9 &&
          (await resolverJwt(node, demo.pub)) === updated.jwt;
      }, { timeoutMs: SLOW_MS }).catch(async (error) => {
        throw new Error(
          `${(error as Error).message}\n${await jwtReport(node, demo.pub, from[index]!)}`,
        );
      });
    }
    // Nodes 2 and 3 got it from the cluster (node 1's push), not from their own mounts.
    for (const [index, node] of nodes.entries()) {
      const mirrored = node.run.lines.slice(from[index]).some((l) => /JWT mirror applied/.test(l));
      assert.equal(mirrored, index === 0, `${node.name} mirrored its mount: ${mirrored}`);
    }
    // JetStream account limits are enforced by the meta leader, whichever node a client is on.
    for (const [index, nc] of demoConnections.entries()) {
      const info = await nc.request("$JS.API.INFO", "", { timeout: SLOW_MS });
      const limits = (info.json() as { limits?: { max_streams?: number } }).limits;
      assert.equal(limits?.max_streams, 9, nodes[index]!.name);
    }
    // The other nodes' mounts catch up, as a ConfigMap update reaches every pod in the end.
    for (const node of nodes.slice(1)) {
      await writeFileAtomic(join(node.mountDir, `${demo.pub}.jwt`), updated.jwt + "\n");
    }
  });

  const victim = await makeAccount(operator, { name: "victim", signer });
  /** Log positions when the victim left the mounts. */
  let removedAt: number[] = [];

  const serverPurged = await t.step(
    "the server purges a removed account's replicated streams on every node; others stay",
    async () => {
      await createReplicatedStream(demoConnections[0]!, "KEEP", 3);
      const victimUser = await makeUser(victim, { name: "victim-user" });
      await Promise.all(
        nodes.map((node) =>
          writeFileAtomic(join(node.mountDir, `${victim.pub}.jwt`), victim.jwt + "\n")
        ),
      );
      for (const node of nodes) {
        await pollUntil(
          `${node.name} to hold the victim's JWT`,
          async () => (await resolverJwt(node, victim.pub)) === victim.jwt,
          { timeoutMs: SLOW_MS },
        );
      }
      const victimNc = await pollUntil(
        "a victim user to connect to n2",
        () => connectWithCreds(nodes[1]!.clientUrl, victimUser.creds),
        { timeoutMs: SLOW_MS },
      );
      let raftGroup: string | undefined;
      try {
        await createReplicatedStream(victimNc, "GONE", 2);
        const info = await victimNc.request("$JS.API.STREAM.INFO.GONE", "", { timeout: SLOW_MS });
        raftGroup = (info.json() as { cluster?: { raft_group?: string } }).cluster?.raft_group;
      } finally {
        await victimNc.close();
      }
      assert.ok(raftGroup, "STREAM.INFO names the stream's raft group");
      // A node keeps a stream's raft log with the meta state, under the system account.
      const raftDir = (node: ClusterNode) =>
        join(accountDir(node, first.system.pub), "_js_", raftGroup!);
      for (const node of nodes) {
        await pollUntil(
          `${node.name} to hold replicas of GONE and KEEP`,
          async () =>
            (await localMessages(node, victim.pub, "GONE")) === 2 &&
            (await localMessages(node, demo.pub, "KEEP")) === 3 &&
            (await pathExists(join(accountDir(node, victim.pub), "streams", "GONE"))) &&
            (await pathExists(raftDir(node))),
          { timeoutMs: SLOW_MS },
        );
      }

      // As Kubernetes updates the ConfigMap every pod mounts: removed from every node's mount.
      removedAt = nodes.map((node) => node.run.lines.length);
      await Promise.all(nodes.map((node) => Deno.remove(join(node.mountDir, `${victim.pub}.jwt`))));
      for (const [index, node] of nodes.entries()) {
        await node.run.waitForLine(
          new RegExp(`account ${victim.pub} has JetStream data but no JWT`),
          { from: removedAt[index]!, timeoutMs: SLOW_MS },
        );
      }
      for (const node of nodes) {
        await pollUntil(
          `the victim's streams to go from ${node.name}`,
          async () =>
            (await localMessages(node, victim.pub, "GONE")) === undefined &&
            !(await pathExists(join(accountDir(node, victim.pub), "streams", "GONE"))) &&
            !(await pathExists(raftDir(node))),
          { timeoutMs: SLOW_MS },
        );
      }
      for (const node of nodes) {
        assert.ok(await pathExists(join(accountDir(node, demo.pub), "streams", "KEEP")), node.name);
        assert.equal(await localMessages(node, demo.pub, "KEEP"), 3, node.name);
        // The cluster's JetStream meta state lives under the system account's directory.
        assert.ok(await pathExists(join(accountDir(node, first.system.pub), "_js_")), node.name);
        // The demo account's pushed JWT is still the one in force (no node reverted it).
        assert.equal((await loadedAccount(node, demo.pub)).streams, 9, node.name);
      }
      const info = await demoConnections[2]!.request("$JS.API.STREAM.INFO.KEEP", "", {
        timeout: SLOW_MS,
      });
      assert.equal((info.json() as { state: { messages: number } }).state.messages, 3);
    },
  );

  await t.step({
    name: "every node's supervisor finds the purge done: no data of the account is left anywhere",
    ignore: !serverPurged,
    fn: async () => {
      // A cluster purge leaves an empty <account>/streams/ on each node (nats-server 2.10): what
      // must be gone is the data, every file below the account's directory.
      for (const node of nodes) {
        await pollUntil(
          `the victim's data to go from ${node.name}'s disk`,
          async () => !(await hasJetStreamData(accountDir(node, victim.pub))),
          { timeoutMs: SLOW_MS },
        ).catch(async (error) => {
          throw new Error(`${error.message}\n${await purgeReport(nodes, victim.pub, removedAt)}`);
        });
      }
      // Whichever supervisor's purge lands first does it; the others then find no data left.
      const purged = new RegExp(`purged the JetStream data of account ${victim.pub}`);
      await pollUntil(
        "a supervisor to log the purge",
        () =>
          nodes.some((node, index) =>
            node.run.lines.slice(removedAt[index]).some((line) => purged.test(line))
          ),
        { timeoutMs: SLOW_MS },
      );
      const troubled = /JetStream purge of account \S+ (failed|: )/;
      for (const [index, node] of nodes.entries()) {
        const lines = node.run.lines.slice(removedAt[index]);
        assert.deepEqual(lines.filter((l) => troubled.test(l)), [], node.name);
      }
    },
  });
});
