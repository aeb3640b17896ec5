/**
 * A nats-server cluster with JetStream on free loopback ports, each node run by its own supervisor
 * (`main.ts`), for end-to-end tests.
 *
 * Every node has its own folder (config, resolver dir, JetStream store, JWT mount, creds) and all
 * share one operator, system account, demo account and mount: node 1 is a fresh dev setup, the
 * others reuse its `keys.json` through `openDevSetup` and get byte-identical copies of its operator
 * JWT, accounts file, mount and creds, so no node ever pushes a JWT that differs from another's.
 *
 * nats-server 2.10 can settle on a JetStream meta group smaller than the cluster at a cold start:
 * when the first leader is elected before the last node's vote arrives, it fixes the group at the
 * peers it has heard from, and the last node stays outside it (seen to last for minutes). Two
 * things keep that out of the tests: the servers start at the same moment (every supervisor is
 * waiting for its `NATS_CONF` when the configs are written), and a start that ends in a short meta
 * group (or a node that exits, e.g. after a port was taken) is thrown away and made again from
 * scratch, with new folders and ports.
 */

import { join } from "node:path";
import {
  createDevSetup,
  type DevSetup,
  openDevSetup,
  serverConfigText,
} from "../../dev/dev_setup.ts";
import { monitor } from "../../dev/nats_client.ts";
import { pollUntil } from "../../dev/poll.ts";
import { freePort } from "../../dev/ports.ts";
import { natsServerBin } from "./setup.ts";
import { runSupervisor, type SupervisorRun } from "../../dev/supervisor_run.ts";

/** The cluster's name in every node's `cluster` block. */
export const CLUSTER_NAME = "pot";

export interface ClusterNode extends DevSetup {
  /** `server_name`, unique in the cluster: `n1`, `n2`, ... */
  name: string;
  /** The route port (`cluster.listen`). */
  clusterPort: number;
  /** This node's supervisor. */
  run: SupervisorRun;
}

export interface TempCluster extends AsyncDisposable {
  dir: string;
  nodes: ClusterNode[];
  /** The server name of the JetStream meta leader when the cluster was ready. */
  metaLeader: string;
  /** Why earlier starts were thrown away (empty when the first start worked). */
  discardedStarts: string[];
}

export interface StartClusterOptions {
  /** Nodes (default 3). */
  size?: number;
  /** Environment added to every supervisor's (e.g. `POT_NATS_PURGE_GRACE_SECONDS`). */
  env?: Record<string, string>;
  /** Starts made before giving up (default 3). */
  attempts?: number;
  /** How long one start may take to form its meta group (ms, default 30 s). */
  formTimeoutMs?: number;
  /** How long a meta leader may lead a group short of the cluster before the start is redone. */
  shortGroupMs?: number;
}

/**
 * Creates a `size`-node cluster in a new temporary directory and starts one supervisor per node.
 * @returns once every node sees the same JetStream meta leader of a group of all nodes; disposing
 * it stops every supervisor (and its nats-server) and removes the directory
 * @throws when no start formed a full meta group in `attempts` tries (the message says why each
 * failed)
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<TempCluster> {
  const attempts = options.attempts ?? 3;
  const discardedStarts: string[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const { dir, nodes: prepared } = await prepareCluster(options.size ?? 3);
    const nodes = prepared.map((node) => ({
      ...node,
      run: runSupervisor({ env: { ...node.env, ...options.env } }),
    }));
    const cluster: TempCluster = {
      dir,
      nodes,
      metaLeader: "",
      discardedStarts,
      async [Symbol.asyncDispose]() {
        await Promise.all(nodes.map((node) => node.run[Symbol.asyncDispose]()));
        await Deno.remove(dir, { recursive: true });
      },
    };
    try {
      await Promise.all(nodes.map((node) => node.run.waitForLine(/for NATS_CONF to appear/)));
      await Promise.all(prepared.map((node) => Deno.writeTextFile(node.confPath, node.config)));
      const formed = await waitForMetaGroup(cluster, options);
      if (formed.leader !== undefined) {
        cluster.metaLeader = formed.leader;
        return cluster;
      }
      discardedStarts.push(formed.problem);
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    await cluster[Symbol.asyncDispose]();
  }
  throw new Error(
    `no start of the cluster formed a full JetStream meta group: ${
      discardedStarts.map((problem, index) => `start ${index + 1}: ${problem}`).join("; ")
    }`,
  );
}

interface PreparedNode extends DevSetup {
  name: string;
  clusterPort: number;
  /** The server config, written by {@linkcode startCluster} once the supervisors wait for it. */
  config: string;
}

/** Files every node shares with node 1, byte for byte. */
const SHARED_FILES = ["operator.jwt", "keys.json", join("config", "accounts.conf")];
const SHARED_DIRS = ["jwt-mount", "creds"];

/** Writes every node's folder except its server config. */
async function prepareCluster(size: number): Promise<{ dir: string; nodes: PreparedNode[] }> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-cluster-" });
  try {
    const serverBin = await natsServerBin();
    const ports = Array.from({ length: size }, () => ({
      client: freePort(),
      monitor: freePort(),
      cluster: freePort(),
    }));
    // Every node, itself included (the server skips the route to itself): at a cold start
    // nats-server takes the number of configured routes as the size of the meta group.
    const routes = ports.map((port) => `nats-route://127.0.0.1:${port.cluster}`).join(", ");
    const nodes: PreparedNode[] = [];
    for (const [index, port] of ports.entries()) {
      const name = `n${index + 1}`;
      const nodeDir = join(dir, name);
      const setupOptions = {
        clientPort: port.client,
        monitorPort: port.monitor,
        serverBin,
        serverName: name,
        extraConfig: [
          "cluster {",
          `  name: ${CLUSTER_NAME}`,
          `  listen: 127.0.0.1:${port.cluster}`,
          `  routes: [${routes}]`,
          "}",
        ].join("\n"),
      };
      const first = nodes[0];
      let setup: DevSetup;
      if (first === undefined) {
        setup = await createDevSetup(nodeDir, setupOptions);
        await Deno.remove(setup.confPath);
      } else {
        for (const path of [...SHARED_DIRS, "config", "jwt", "certs", "data"]) {
          await Deno.mkdir(join(nodeDir, path), { recursive: true });
        }
        for (const path of SHARED_FILES) {
          await Deno.copyFile(join(first.dir, path), join(nodeDir, path));
        }
        for (const shared of SHARED_DIRS) {
          for await (const entry of Deno.readDir(join(first.dir, shared))) {
            await Deno.copyFile(
              join(first.dir, shared, entry.name),
              join(nodeDir, shared, entry.name),
            );
          }
        }
        // Same keys; keep node 1's JWTs and users (openDevSetup signs fresh ones).
        const { operator, system, demo, sysUser, demoUser } = first;
        setup = {
          ...await openDevSetup(nodeDir, setupOptions),
          operator,
          system,
          demo,
          sysUser,
          demoUser,
        };
      }
      nodes.push({ ...setup, name, clusterPort: port.cluster, config: serverConfigText(setup) });
    }
    return { dir, nodes };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

interface MetaCluster {
  leader?: string;
  cluster_size?: number;
}

/**
 * Polls every node's `/jsz` until they all name the same meta leader of a group of all nodes.
 * @returns the leader, or a problem when the start should be thrown away
 * @throws when nothing formed within `formTimeoutMs`
 */
async function waitForMetaGroup(
  cluster: TempCluster,
  options: StartClusterOptions,
): Promise<{ leader: string; problem?: never } | { leader?: never; problem: string }> {
  const size = cluster.nodes.length;
  const shortGroupMs = options.shortGroupMs ?? 3000;
  const exited = new Set<string>();
  for (const node of cluster.nodes) void node.run.status.then(() => exited.add(node.name));
  let shortSince: number | undefined;
  let seen = "nothing yet";
  try {
    return await pollUntil(
      `a JetStream meta leader of all ${size} nodes, seen by every node`,
      async () => {
        const gone = cluster.nodes.find((node) => exited.has(node.name));
        if (gone) {
          return {
            problem: `the supervisor of ${gone.name} exited before the cluster formed:\n` +
              gone.run.lines.slice(-20).join("\n"),
          };
        }
        const metas = await Promise.all(cluster.nodes.map(async (node) => ({
          node: node.name,
          ...(await monitor<{ meta_cluster?: MetaCluster }>(node.options.monitorPort, "jsz"))
            .meta_cluster,
        })));
        seen = JSON.stringify(metas);
        const leaders = new Set(metas.map((meta) => meta.leader ?? ""));
        const [leader] = leaders;
        if (leaders.size !== 1 || !leader) return false;
        if (metas.every((meta) => meta.cluster_size === size)) return { leader };
        shortSince ??= Date.now();
        if (Date.now() - shortSince < shortGroupMs) return false;
        return { problem: `meta leader ${leader} leads a group short of the cluster: ${seen}` };
      },
      { timeoutMs: options.formTimeoutMs ?? 30_000, intervalMs: 50 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${seen}`);
  }
}
