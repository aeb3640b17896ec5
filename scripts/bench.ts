/**
 * `deno task bench`: how fast and how cheaply pot-nats makes a real nats-server match its mounts.
 * Real nats-server, real files (kubelet-style volume swaps), main.ts run as a child process exactly
 * as the tests run it. Prints a table and rewrites the generated block of BENCHMARKS.md.
 *
 *   deno task bench [--trials 20] [--accounts 10000] [--large-accounts 100000] [--idle-seconds 60]
 *                   [--no-write]
 *   deno task bench --only reaction|scale|large|footprint|v8 (prints those figures only; no write)
 *   deno task bench --only leaf [--server-bin <nats-server>]... [--trials 10]
 *
 * The supervisor runs with the V8 flags the release binary bakes in (`V8_FLAGS`, passed as
 * `DENO_V8_FLAGS`, which a compiled binary reads too), so the figures are the binary's; `--only v8`
 * compares them with V8's defaults.
 *
 * `--only leaf` runs only the leaf restart figures (a hub and a supervised leaf), once per
 * `--server-bin` (default: the nats-server the tests use), into their own block of BENCHMARKS.md.
 */

import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  accountsConfigText,
  createTempDevSetup,
  type DevSetup,
  serverConfigText,
} from "../dev/dev_setup.ts";
import { REPO_ROOT, resolveNatsServer } from "./nats_server.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { serverVersion } from "../src/server/server_binary.ts";
import { makeAccounts } from "../dev/bulk_jwt.ts";
import { makeAccount, makeUser } from "../dev/jwt_fixtures.ts";
import { kubeletWrite } from "../dev/kubelet.ts";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { runSupervisor, type SupervisorRun } from "../dev/supervisor_run.ts";
import { startLeafTopology } from "../dev/leaf_topology.ts";
import { measureLeafRestart, type RestartProbe } from "../dev/leaf_restart.ts";
import { connectReconnecting, recordStatus } from "../dev/nats_client.ts";
import { installTransportErrorGuard } from "../src/admin/transport_guard.ts";
import { silentLogger } from "../src/shared/log.ts";
import { V8_FLAGS } from "./compile_plan.ts";

interface Row {
  figure: string;
  trials: number;
  median: number;
  p99: number;
  unit: string;
  target: string;
  met: boolean;
}

const args = parseArgs({
  options: {
    trials: { type: "string", default: "20" },
    accounts: { type: "string", default: "10000" },
    "large-accounts": { type: "string", default: "100000" },
    "idle-seconds": { type: "string", default: "60" },
    "no-write": { type: "boolean", default: false },
    only: { type: "string" },
    "server-bin": { type: "string", multiple: true },
  },
}).values;
/** The groups of figures `--only` can pick; the default runs all but "leaf" first, then "leaf". */
const GROUPS = ["reaction", "scale", "large", "footprint", "v8", "leaf"];
if (args.only !== undefined && !GROUPS.includes(args.only)) {
  throw new TypeError(`--only takes one of ${GROUPS.join(", ")}, got "${args.only}"`);
}
/** Whether the group of figures runs in this invocation. */
const runs = (group: string) => args.only === undefined || args.only === group;
const TRIALS = Number(args.trials);
const ACCOUNTS = Number(args.accounts);
const LARGE_ACCOUNTS = Number(args["large-accounts"]);
const IDLE_SECONDS = Number(args["idle-seconds"]);

installTransportErrorGuard(silentLogger);

/** Median and p99 (nearest rank; the max for fewer than 100 trials). */
function stats(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { median: rank(0.5), p99: rank(0.99) };
}

function row(
  figure: string,
  samples: number[],
  unit: string,
  target: string,
  limits: { median?: number; p99?: number },
): Row {
  const { median, p99 } = stats(samples);
  const met = (limits.median === undefined || median < limits.median) &&
    (limits.p99 === undefined || p99 < limits.p99);
  const result = { figure, trials: samples.length, median, p99, unit, target, met };
  console.error(`  ${figure}: median ${median.toFixed(1)} ${unit}, p99 ${p99.toFixed(1)} ${unit}`);
  return result;
}

/** The release binary's V8 flags, as the environment variable Deno reads them from. */
const BINARY_V8_ENV = { DENO_V8_FLAGS: V8_FLAGS.join(",") };

/**
 * A setup whose config, TLS dir and JWT mount are kubelet volumes, as in a pod; the supervisor's
 * environment has the release binary's V8 flags unless `extraEnv` says otherwise.
 */
async function podSetup(extraEnv: Record<string, string> = {}) {
  const setup = await createTempDevSetup({ serverBin: await resolveNatsServer() });
  const configVolume = join(setup.dir, "config-vol");
  await writeConfig(setup, configVolume, 1000);
  await Deno.remove(setup.mountDir, { recursive: true });
  await kubeletWrite(setup.mountDir, { [`${setup.demo.pub}.jwt`]: setup.demo.jwt });
  const env: Record<string, string> = {
    ...setup.env,
    NATS_CONF: join(configVolume, "server.conf"),
    NATS_ACCOUNTS: join(configVolume, "accounts.conf"),
    POT_NATS_PURGE_GRACE_SECONDS: "0",
    ...BINARY_V8_ENV,
    ...extraEnv,
  };
  return { setup, configVolume, env };
}

function writeConfig(
  setup: DevSetup,
  volume: string,
  maxConnections: number,
  onSwap?: () => void,
): Promise<number> {
  return kubeletWrite(volume, {
    "server.conf": `${serverConfigText(setup)}max_connections: ${maxConnections}\n`,
    "accounts.conf": accountsConfigText(setup),
  }, onSwap ? { onSwap } : {});
}

/** `$JS.API.INFO` as a user of the account: its JetStream limits as the server enforces them. */
async function accountLimits(nc: NatsConnection): Promise<{ max_streams?: number }> {
  const reply = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
  return (reply.json() as { limits?: { max_streams?: number } }).limits ?? {};
}

/**
 * Runs `action` and polls `until` every millisecond from the moment the action says the change is
 * in the mount (its `onSwap`; else from its start).
 * @returns ms from that moment (a kubelet swap's instant, which the action returns) until `until`
 *   first holds. Polling starts at the swap, not after the action: a kubelet write goes on after its
 *   swap (visible links, removing the old version, 100,000 files with a big mount), and waiting for
 *   that counted the writer's clean-up as the supervisor's time; polling before the swap would only
 *   load the machine while the writer writes.
 */
async function timed(
  action: (onSwap: () => void) => Promise<number | void>,
  until: () => Promise<boolean>,
): Promise<number> {
  const started = performance.now();
  let swapped = false;
  const acting = action(() => swapped = true).finally(() => swapped = true);
  const observedAt = await pollUntil(
    "the change to be in force",
    async () => swapped && (await until()) && performance.now(),
    // Generous: the deadline runs from the start of the write, which takes a while with 100,000
    // files; the figure runs from the swap.
    { intervalMs: 1, timeoutMs: 300_000 },
  );
  const inMount = (await acting) ?? started;
  return observedAt - inMount;
}

async function reactionFigures(rows: Row[]): Promise<void> {
  console.error("reaction latency (figures 1, 2, 3, 5)");
  const { setup, configVolume, env } = await podSetup();
  await using _setup = setup;
  await using run = runSupervisor({ env });
  await run.waitForLine(/pushed account JWTs/);
  const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  const mount: Record<string, string> = { [`${setup.demo.pub}.jwt`]: setup.demo.jwt };
  try {
    const jwtUpdate: number[] = [];
    for (let i = 1; i <= TRIALS; i++) {
      const updated = await makeAccount(setup.operator, {
        name: "demo",
        key: setup.demo.kp,
        limits: { streams: 100 + i },
      });
      mount[`${setup.demo.pub}.jwt`] = updated.jwt;
      jwtUpdate.push(
        await timed(
          (onSwap) => kubeletWrite(setup.mountDir, mount, { onSwap }),
          async () => (await accountLimits(nc)).max_streams === 100 + i,
        ),
      );
    }
    rows.push(
      row("1. JWT update -> new limits in force", jwtUpdate, "ms", "median < 50, p99 < 300", {
        median: 50,
        p99: 300,
      }),
    );

    const newAccount: number[] = [];
    for (let i = 1; i <= TRIALS; i++) {
      const account = await makeAccount(setup.operator, { name: `new-${i}` });
      const user = await makeUser(account, { name: `new-${i}-user` });
      mount[`${account.pub}.jwt`] = account.jwt;
      // A refused connect takes ~2 s to fail, so connect once the JWT is mirrored; a connect that is
      // still refused then would show up here as a ~2 s outlier, not be hidden.
      const resolverFile = join(setup.jwtDir, `${account.pub}.jwt`);
      newAccount.push(
        await timed((onSwap) => kubeletWrite(setup.mountDir, mount, { onSwap }), async () => {
          if (!(await pathExists(resolverFile))) return false;
          const client = await connectWithCreds(setup.clientUrl, user.creds);
          await client.close();
          return true;
        }),
      );
    }
    rows.push(
      row("2. new account -> its user connects", newAccount, "ms", "median < 150, p99 < 300", {
        median: 150,
        p99: 300,
      }),
    );

    const configReload: number[] = [];
    for (let i = 1; i <= TRIALS; i++) {
      const before = (await monitor(setup.options.monitorPort, "varz")).config_load_time;
      configReload.push(
        await timed(
          (onSwap) => writeConfig(setup, configVolume, 1000 + i, onSwap),
          async () =>
            (await monitor(setup.options.monitorPort, "varz")).config_load_time !== before,
        ),
      );
    }
    rows.push(
      row(
        "3. config swap -> config_load_time changes",
        configReload,
        "ms",
        "median < 60, p99 < 300",
        {
          median: 60,
          p99: 300,
        },
      ),
    );

    rows.push(await purgeFigure(setup, run, mount));
  } finally {
    await nc.close();
  }
}

async function purgeFigure(
  setup: DevSetup,
  run: SupervisorRun,
  mount: Record<string, string>,
): Promise<Row> {
  const trials = Math.min(TRIALS, 5);
  const samples: number[] = [];
  for (let i = 1; i <= trials; i++) {
    const account = await makeAccount(setup.operator, { name: `purge-${i}` });
    const user = await makeUser(account, { name: `purge-${i}-user` });
    mount[`${account.pub}.jwt`] = account.jwt;
    await kubeletWrite(setup.mountDir, mount);
    const client = await pollUntil(
      "the purge account's user to connect",
      async () => await connectWithCreds(setup.clientUrl, user.creds),
    );
    const streamDir = join(setup.storeDir, "jetstream", account.pub);
    await client.request(
      "$JS.API.STREAM.CREATE.DATA",
      JSON.stringify({ name: "DATA", subjects: ["data.>"], storage: "file" }),
      { timeout: 2000 },
    );
    await client.request("data.x", "payload", { timeout: 2000 }).catch(() => undefined);
    await client.close();
    await pollUntil("the stream dir", () => pathExists(streamDir));
    delete mount[`${account.pub}.jwt`];
    samples.push(
      await timed(
        (onSwap) => kubeletWrite(setup.mountDir, mount, { onSwap }),
        async () => !(await pathExists(streamDir)),
      ),
    );
  }
  void run;
  return row(
    "5. account with a stream removed (grace 0) -> store dir gone",
    samples,
    "ms",
    "< 1000",
    {
      p99: 1000,
    },
  );
}

/** The targets of the scale runs, by account count (ms and MiB); absent: reported only. */
interface ScaleTargets {
  /** Start -> every account mirrored and pushed. */
  startMs: number;
  /** One change -> in force (median). */
  singleMs: number;
  /** RSS once idle after the start. */
  idleRssMiB?: number;
  /** RSS after the single changes. */
  afterRssMiB?: number;
}

const SCALE_TARGETS: Record<number, ScaleTargets> = {
  2000: { startMs: 10_000, singleMs: 100, idleRssMiB: 80 },
  10000: { startMs: 10_000, singleMs: 150, afterRssMiB: 120 },
  100000: { startMs: 60_000, singleMs: 1000, afterRssMiB: 400 },
};

async function scaleFigures(rows: Row[], count: number): Promise<void> {
  console.error(`scale (figure 4): ${count} accounts`);
  const targets = SCALE_TARGETS[count] ?? { startMs: 10_000, singleMs: 150 };
  const { setup, env } = await podSetup();
  await using _setup = setup;
  const accounts = await makeAccounts(setup.operator, count, { namePrefix: "scale" });
  const mount: Record<string, string> = { [`${setup.demo.pub}.jwt`]: setup.demo.jwt };
  for (const account of accounts) mount[`${account.pub}.jwt`] = account.jwt;
  await kubeletWrite(setup.mountDir, mount);

  const started = performance.now();
  await using run = runSupervisor({ env });
  const total = count + 2; // + demo + SYS, which nats-server writes into the resolver dir
  await run.waitForLine(
    new RegExp(`pushed account JWTs to the server accounts=${total} failed=0`),
    { timeoutMs: Math.max(120_000, 3 * targets.startMs) },
  );
  const allPushed = performance.now() - started;
  rows.push(
    row(
      `4a. ${count} accounts at start -> all mirrored and pushed`,
      [allPushed],
      "ms",
      `< ${targets.startMs}`,
      { p99: targets.startMs },
    ),
  );
  await idle(5);
  rows.push(rssRow(`6e. supervisor RSS with ${count} accounts, idle after start`, run, {
    below: targets.idleRssMiB,
  }));

  const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  try {
    const single: number[] = [];
    let writes = 0;
    let pushes = 0;
    // Each trial at 100,000 rewrites 100,000 files: three say enough there.
    for (let i = 1; i <= Math.min(TRIALS, count >= 100_000 ? 3 : 10); i++) {
      const from = run.lines.length;
      const updated = await makeAccount(setup.operator, {
        name: "demo",
        key: setup.demo.kp,
        limits: { streams: 200 + i },
      });
      mount[`${setup.demo.pub}.jwt`] = updated.jwt;
      single.push(
        await timed(
          (onSwap) => kubeletWrite(setup.mountDir, mount, { onSwap }),
          async () => (await accountLimits(nc)).max_streams === 200 + i,
        ),
      );
      const mirrored = await run.waitForLine(/JWT mirror applied/, { from });
      const pushed = await run.waitForLine(/pushed account JWTs to the server/, { from });
      writes += Number(mirrored.match(/added=(\d+)/)?.[1]) +
        Number(mirrored.match(/changed=(\d+)/)?.[1]);
      pushes += Number(pushed.match(/accounts=(\d+)/)?.[1]);
    }
    const target = targets.singleMs;
    rows.push(
      row(`4b. one change among ${count} -> in force`, single, "ms", `median < ${target}`, {
        median: target,
      }),
    );
    console.error(
      `  4c. per single change: ${writes / single.length} file writes, ${
        pushes / single.length
      } JWTs pushed`,
    );
    rows.push({
      figure: "4c. files written / JWTs pushed per single change",
      trials: single.length,
      median: writes / single.length,
      p99: pushes / single.length,
      unit: "writes / pushes",
      target: "1 / 1",
      met: writes === single.length && pushes === single.length,
    });
    await idle(3);
    rows.push(rssRow(`6b. supervisor RSS after the ${count}-account run`, run, {
      below: targets.afterRssMiB,
    }));
  } finally {
    await nc.close();
  }
}

async function footprintFigures(rows: Row[]): Promise<void> {
  console.error(`footprint (figure 6): ${IDLE_SECONDS} s idle`);
  const { setup, env } = await podSetup();
  await using _setup = setup;
  const starts: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 5; i++) {
    let started = performance.now();
    {
      await using run = runSupervisor({ env });
      await acceptsClients(setup.options.clientPort);
      starts.push(performance.now() - started);
      void run;
    }
    started = performance.now();
    {
      await using server = spawnBareServer(setup);
      await acceptsClients(setup.options.clientPort);
      bare.push(performance.now() - started);
      void server;
    }
  }
  const overhead = starts.map((s, i) => s - bare[i]!);
  rows.push(row("6d. start -> accepting clients, supervised", starts, "ms", "(reported)", {}));
  rows.push(row("6d. start -> accepting clients, nats-server alone", bare, "ms", "(reported)", {}));
  rows.push(
    row("6d. start overhead of the supervisor", overhead, "ms", "median < 60", { median: 60 }),
  );

  // The supervisor's HTTP endpoint is on (as in the image), and scraped every 15 s like a
  // Prometheus would: its cost is part of the idle figures.
  await using run = runSupervisor({ env });
  await run.waitForLine(/pushed account JWTs/);
  await idleScraped(30, env.POT_NATS_HTTP_PORT!);
  rows.push(
    rssRow(
      "6a. supervisor RSS idle after 30 s, 3 accounts (HTTP endpoint on, scraped every 15 s)",
      run,
      {
        below: 60,
      },
    ),
  );
  const before = cpuSeconds(run.process.pid);
  await idleScraped(IDLE_SECONDS, env.POT_NATS_HTTP_PORT!);
  const percent = ((cpuSeconds(run.process.pid) - before) / IDLE_SECONDS) * 100;
  rows.push({
    figure: `6c. supervisor CPU over ${IDLE_SECONDS} idle seconds, scraped every 15 s`,
    trials: 1,
    median: percent,
    p99: percent,
    unit: "% of a core",
    target: "< 0.5",
    met: percent < 0.5,
  });
}

/** The supervisor's RSS now, as a row; `below`: the target (none: reported only). */
function rssRow(
  figure: string,
  run: SupervisorRun,
  { below }: { below?: number | undefined },
): Row {
  const rss = rssMiB(run.process.pid);
  console.error(`  ${figure}: ${rss.toFixed(1)} MiB`);
  return {
    figure,
    trials: 1,
    median: rss,
    p99: rss,
    unit: "MiB",
    target: below === undefined ? "(reported)" : `< ${below}`,
    met: below === undefined || rss < below,
  };
}

/**
 * The release binary's V8 flags against V8's defaults: for each, idle RSS with 3 accounts, RSS
 * idle after a start with 2,000 accounts, and the reaction to a JWT swap among them (median).
 */
async function v8Figures(rows: Row[]): Promise<void> {
  for (const label of ["V8 defaults", V8_FLAGS.join(" ")]) {
    console.error(`V8 flags: ${label}`);
    const { setup, env } = await podSetup();
    if (label === "V8 defaults") delete env.DENO_V8_FLAGS;
    await using _setup = setup;
    {
      await using run = runSupervisor({ env });
      await run.waitForLine(/pushed account JWTs/);
      await idle(10);
      rows.push(rssRow(`V. RSS idle, 3 accounts (${label})`, run, {}));
    }
    const accounts = await makeAccounts(setup.operator, 2000, { namePrefix: "v8" });
    const mount: Record<string, string> = { [`${setup.demo.pub}.jwt`]: setup.demo.jwt };
    for (const account of accounts) mount[`${account.pub}.jwt`] = account.jwt;
    await kubeletWrite(setup.mountDir, mount);
    await using run = runSupervisor({ env });
    await run.waitForLine(/pushed account JWTs to the server accounts=2002 failed=0/, {
      timeoutMs: 60_000,
    });
    await idle(5);
    rows.push(rssRow(`V. RSS idle after start, 2000 accounts (${label})`, run, {}));
    const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
    try {
      const samples: number[] = [];
      for (let i = 1; i <= Math.min(TRIALS, 10); i++) {
        const updated = await makeAccount(setup.operator, {
          name: "demo",
          key: setup.demo.kp,
          limits: { streams: 300 + i },
        });
        mount[`${setup.demo.pub}.jwt`] = updated.jwt;
        samples.push(
          await timed(
            (onSwap) => kubeletWrite(setup.mountDir, mount, { onSwap }),
            async () => (await accountLimits(nc)).max_streams === 300 + i,
          ),
        );
      }
      rows.push(
        row(`V. one change among 2000 -> in force (${label})`, samples, "ms", "(reported)", {}),
      );
    } finally {
      await nc.close();
    }
  }
}

/**
 * Leaf restarts: a hub and a supervised leaf; each trial changes the leaf's config (adds or drops
 * a second remote), which restarts its nats-server, and measures it (see dev/leaf_restart.ts).
 */
async function leafFigures(serverBin: string): Promise<Row[]> {
  const version = await serverVersion(serverBin);
  const trials = Math.min(TRIALS, 10);
  console.error(`leaf restarts (nats-server ${version}): ${trials} trials`);
  await using topology = await startLeafTopology({ serverBin });
  const { leaf, run } = topology;
  const ops = await topology.addSharedAccount("ops");
  await pollUntil("ops mirrored", () => pathExists(join(leaf.jwtDir, `${ops.account.pub}.jwt`)));
  const from = run.lines.length;
  const opsRemote = await makeUser(ops.account, { name: "ops-remote" });
  await topology.writeCreds({ "leafnode/ops.creds": opsRemote.creds });
  await run.waitForLine(/restarting nats-server to apply the change causes=creds/, { from });
  await topology.waitForHubToSeeLeaf();

  const probe = async (options = {}): Promise<RestartProbe> => {
    const nc = await connectReconnecting(leaf.clientUrl, leaf.demoUser.creds, options);
    return { nc, status: recordStatus(nc) };
  };
  const normal = await probe();
  const fast = await probe({ reconnectTimeWait: 50, reconnectJitter: 0 });
  const samples = { client: [] as number[], fast: [] as number[], hub: [] as number[] };
  try {
    await normal.nc.request(
      "$JS.API.STREAM.CREATE.BENCH",
      JSON.stringify({ name: "BENCH", subjects: ["BENCH.>"], storage: "file" }),
      { timeout: 5000 },
    );
    for (let i = 1; i <= trials; i++) {
      const remotes = i % 2 === 1
        ? [{ account: leaf.demo.pub }, {
          account: ops.account.pub,
          credsPath: "leafnode/ops.creds",
        }]
        : [{ account: leaf.demo.pub }];
      // A client connected long ago retries at once when dropped: make each trial start so.
      await idle(2.5);
      const figures = await measureLeafRestart(topology, {
        change: () => Deno.writeTextFile(leaf.confPath, topology.leafConfig(remotes)),
        clients: { normal, fast },
        subject: "BENCH.probe",
      });
      samples.client.push(figures.clientOutageMs);
      samples.fast.push(figures.fastClientOutageMs);
      samples.hub.push(figures.hubResightMs);
      await topology.waitForHubToSeeLeaf({ count: remotes.length });
    }
  } finally {
    await Promise.all([normal.nc.close(), fast.nc.close()]);
  }
  const label = (what: string) => `L. leaf config change -> restart, ${what} (${version})`;
  return [
    row(label("client outage, nats.js defaults"), samples.client, "ms", "(reported)", {}),
    row(label("client outage, 50 ms reconnect wait"), samples.fast, "ms", "median < 300", {
      median: 300,
    }),
    row(label("hub sees the leaf again"), samples.hub, "ms", "median < 500", { median: 500 }),
  ];
}

function spawnBareServer(setup: DevSetup) {
  const child = new Deno.Command(setup.options.serverBin, {
    args: ["-c", join(setup.dir, "config-vol", "server.conf")],
    cwd: join(setup.dir, "config-vol"),
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    async [Symbol.asyncDispose]() {
      child.kill("SIGINT");
      await child.status;
    },
  };
}

async function acceptsClients(port: number): Promise<void> {
  await pollUntil("the client port", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  }, { intervalMs: 1 });
}

/** Idles `seconds`, fetching the supervisor's /metrics every 15 s, as a Prometheus scrape would. */
async function idleScraped(seconds: number, httpPort: string): Promise<void> {
  for (let left = seconds; left > 0; left -= 15) {
    const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
    await response.body?.cancel();
    await idle(Math.min(15, left));
  }
}

/** Waits wall-clock time on purpose: idle cost is what is measured here, not a synchronisation. */
async function idle(seconds: number): Promise<void> {
  await sleep(seconds * 1000);
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]) / 1024;
}

function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return ticks / 100; // USER_HZ is 100 on Linux
}

function table(rows: Row[]): string {
  const lines = [
    "| figure | trials | median | p99 / max | unit | target | met |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.figure} | ${r.trials} | ${r.median.toFixed(1)} | ${
        r.p99.toFixed(1)
      } | ${r.unit} | ${r.target} | ${r.met ? "yes" : "**no**"} |`
    ),
  ];
  return lines.join("\n");
}

async function machine(): Promise<string> {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const setup = await createTempDevSetup({ serverBin: await resolveNatsServer() });
  await using _setup = setup;
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${navigator.hardwareConcurrency} cores (${cpu}), ${
      (Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0)
    } GiB, Linux ${Deno.osRelease()}`,
    `- Deno ${Deno.version.deno}, nats-server ${await serverVersion(setup.options.serverBin)}`,
    `- trials: ${TRIALS} (config, JWT, new account), ${Math.min(TRIALS, 5)} (purge), ${
      Math.min(TRIALS, 10)
    } (single change among 2000 and ${ACCOUNTS}), ${
      Math.min(TRIALS, 3)
    } (among ${LARGE_ACCOUNTS}); default debounce (100 ms)`,
    `- V8 flags of the release binary: ${V8_FLAGS.join(" ")} (but for the "V8 defaults" rows)`,
  ].join("\n");
}

/** Replaces the generated block `name` of BENCHMARKS.md (or appends it), formatted for `ok`. */
async function writeBlock(name: string, report: string): Promise<void> {
  const path = join(REPO_ROOT, "BENCHMARKS.md");
  const text = await Deno.readTextFile(path).catch(() => "# Benchmarks\n\n");
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${begin}\n${report}${end}`;
  const updated = text.includes(begin)
    ? text.replace(new RegExp(`${begin}[\\s\\S]*${end}`), block)
    : `${text.trimEnd()}\n\n${block}\n`;
  await Deno.writeTextFile(path, updated);
  // Formatted as `deno task ok` expects, so a fresh run never breaks the format check.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
  console.error(`wrote ${path} (${name})`);
}

if (import.meta.main) {
  const header = await machine();
  if (args.only !== "leaf") {
    const rows: Row[] = [];
    if (runs("reaction")) await reactionFigures(rows);
    if (runs("scale")) {
      for (const accounts of new Set([2000, ACCOUNTS])) await scaleFigures(rows, accounts);
    }
    if (runs("large")) await scaleFigures(rows, LARGE_ACCOUNTS);
    if (runs("footprint")) await footprintFigures(rows);
    if (runs("v8")) await v8Figures(rows);
    const report = `${header}\n\n${table(rows)}\n`;
    console.log(report);
    // Only a full run rewrites the block: a partial one would drop the other figures.
    if (!args["no-write"] && args.only === undefined) await writeBlock("bench", report);
  }
  if (!runs("leaf")) Deno.exit(0);
  const leafRows: Row[] = [];
  for (const bin of args["server-bin"] ?? [await resolveNatsServer()]) {
    leafRows.push(...await leafFigures(bin));
  }
  const leafHeader = header.split("\n").filter((line) => !line.startsWith("- trials")).join("\n")
    .replace(/, nats-server .*/, "");
  const leafReport = `${leafHeader}\n- trials: ${
    Math.min(TRIALS, 10)
  } restarts per nats-server version\n\n${table(leafRows)}\n`;
  console.log(leafReport);
  if (!args["no-write"]) await writeBlock("bench:leaf", leafReport);
  Deno.exit(0);
}
