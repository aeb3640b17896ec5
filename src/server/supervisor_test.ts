/**
 * The Supervisor's life cycle with real child processes standing in for nats-server (small shell
 * scripts that trap signals, see `tests/_helpers/script_children.ts`): the order of the companions'
 * hooks around the child, the stops that come before there is a child, and the cut-offs that keep
 * a PID 1 from lingering.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { pollUntil } from "../../dev/poll.ts";
import { freePort } from "../../dev/ports.ts";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { ScriptChildren, trappingScript } from "../../tests/_helpers/script_children.ts";
import { parseSettings } from "../cli/settings.ts";
import type { Companion } from "./companion.ts";
import type { Spawner, SpawnRequest } from "./server_process.ts";
import { Supervisor } from "./supervisor.ts";
import { ChangePipeline } from "../watch/pipeline.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

/** A temporary folder holding `server.conf` (with `text`, or none); disposing removes it. */
function confDir(text?: string) {
  const dir = Deno.makeTempDirSync({ prefix: "pot-nats-supervisor-" });
  const conf = join(dir, "server.conf");
  if (text !== undefined) Deno.writeTextFileSync(conf, text);
  return {
    conf,
    [Symbol.dispose]() {
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/**
 * A supervisor whose events (hooks, spawns, signals to the child, the child's exit) are written
 * down in order. The port check finds nothing in the way unless `realPortCheck` is set (the ports
 * in these configs are not reserved for the test).
 */
function supervised(
  env: Record<string, string>,
  options: { spawn?: Spawner; companion?: Companion; realPortCheck?: boolean } = {},
) {
  const { log, entries } = captureLog();
  const events: string[] = [];
  const requests: SpawnRequest[] = [];
  const spawn = options.spawn;
  const recording: Spawner | undefined = spawn && ((request) => {
    events.push("spawn");
    requests.push(request);
    const child = spawn(request);
    return {
      pid: child.pid,
      status: child.status.then((status) => {
        events.push(`exit ${status.code}`);
        return status;
      }),
      kill(signal) {
        events.push(`signal ${signal}`);
        child.kill(signal);
      },
    };
  });
  const record = (event: string) => () => void events.push(event);
  const companion: Companion = options.companion ?? {
    beforeStart: () => Promise.resolve(record("beforeStart")()),
    start: record("start"),
    beforeStop: record("beforeStop"),
    close: () => Promise.resolve(record("close")()),
  };
  const supervisor = new Supervisor({
    settings: parseSettings(env, "/"),
    log,
    extraArgs: [],
    companion,
    ...(options.realPortCheck ? {} : { findPortInUse: () => Promise.resolve(undefined) }),
    ...(recording ? { spawn: recording } : {}),
  });
  return { supervisor, events, requests, entries, record };
}

Deno.test("Supervisor: the companions' hooks run in order around the child", async () => {
  using dir = confDir("port: 4222\n");
  await using children = new ScriptChildren();
  const s = supervised(
    { NATS_CONF: dir.conf, NATS_MONITOR_PORT: "8333" },
    { spawn: children.spawner(trappingScript({ INT: { exit: 0 } })) },
  );
  const run = s.supervisor.run();
  await children.ready(0);
  await pollUntil("the start hook", () => s.events.includes("start"));
  s.supervisor.onSignal("SIGTERM");
  assert.equal(await run, 0);
  assert.deepEqual(s.events, [
    "beforeStart",
    "spawn",
    "start",
    "beforeStop",
    "signal SIGINT",
    "exit 0",
    "close",
  ]);
  assert.deepEqual(s.requests, [{
    bin: "/home/runner/bin/nats-server",
    args: ["-c", dir.conf, "-m", "8333"],
    cwd: dirname(dir.conf),
  }]);
});

Deno.test("Supervisor: signals that are passed on", async (t) => {
  using dir = confDir("port: 4222\n");
  await using children = new ScriptChildren();
  const s = supervised(
    { NATS_CONF: dir.conf },
    { spawn: children.spawner(trappingScript({ HUP: "record", INT: { exit: 0 } })) },
  );

  await t.step("before nats-server runs, a SIGHUP is ignored and said so", () => {
    s.supervisor.onSignal("SIGHUP");
    const [line] = s.entries.filter((e) => e.level === "warn");
    assert.equal(line?.msg, "received SIGHUP while nats-server is not running; ignored");
  });

  await t.step("while it runs, a SIGHUP reaches nats-server, which keeps running", async () => {
    const run = s.supervisor.run();
    await children.ready(0);
    s.supervisor.onSignal("SIGHUP");
    assert.deepEqual(await children.waitForSignals(0, 1), ["HUP"]);
    assert.ok(s.entries.some((e) => e.msg === "passed SIGHUP on to nats-server"));
    s.supervisor.onSignal("SIGINT");
    assert.equal(await run, 0);
    assert.deepEqual(children.signals(0), ["HUP", "INT"]);
  });
});

Deno.test("Supervisor: a stop before there is a child returns 0 and spawns nothing", async (t) => {
  await t.step("a stop while waiting for the config", async () => {
    using dir = confDir(); // no config: the supervisor waits for it
    await using children = new ScriptChildren();
    const s = supervised(
      { NATS_CONF: dir.conf, POT_NATS_CONF_WAIT_SECONDS: "30" },
      { spawn: children.spawner("exit 0") },
    );
    const run = s.supervisor.run();
    await pollUntil(
      "the wait for the config",
      () => s.entries.some((e) => e.msg === "waiting up to 30 s for NATS_CONF to appear"),
    );
    s.supervisor.onSignal("SIGTERM");
    assert.equal(await run, 0);
    // Told to let go of connections it has not made yet; nothing prepared, started or closed.
    assert.deepEqual(s.events, ["beforeStop"]);
    assert.equal(children.spawned.length, 0);
  });

  await t.step("a stop while the companions prepare the start", async () => {
    using dir = confDir("port: 4222\n");
    await using children = new ScriptChildren();
    const preparing = Promise.withResolvers<void>();
    const s = supervised({ NATS_CONF: dir.conf }, {
      spawn: children.spawner("exit 0"),
      companion: {
        beforeStart: () => {
          s.events.push("beforeStart");
          return preparing.promise;
        },
        start: () => void s.events.push("start"),
      },
    });
    const run = s.supervisor.run();
    await pollUntil("the companions to prepare", () => s.events.includes("beforeStart"));
    s.supervisor.onSignal("SIGTERM");
    preparing.resolve();
    assert.equal(await run, 0);
    assert.deepEqual(s.events, ["beforeStart"]);
    assert.equal(children.spawned.length, 0);
  });
});

Deno.test("Supervisor: something listening on the client port refuses the start with 1", async () => {
  const port = freePort();
  using dir = confDir(`port: ${port}\n`);
  using _listener = Deno.listen({ hostname: "127.0.0.1", port });
  await using children = new ScriptChildren();
  const s = supervised({ NATS_CONF: dir.conf, NATS_MONITOR_PORT: "0" }, {
    spawn: children.spawner("exit 0"),
    realPortCheck: true,
  });
  assert.equal(await s.supervisor.run(), 1);
  assert.deepEqual(s.events, [], "nothing prepared, nothing spawned");
  const [error] = s.entries.filter((e) => e.level === "error");
  assert.match(
    String(error?.msg),
    new RegExp(
      `already listens on 127\\.0\\.0\\.1:${port}, the client port \\(port in server\\.conf\\)`,
    ),
  );
});

Deno.test("Supervisor: a binary that cannot be spawned", async () => {
  using dir = confDir("port: 4222\n");
  const s = supervised({ NATS_CONF: dir.conf, NATS_SERVER_BIN: "/nonexistent/nats-server" });
  // The real spawner: run() rejects with the reason, and the companions are closed.
  await assert.rejects(s.supervisor.run(), /set NATS_SERVER_BIN to the path of a nats-server/);
  assert.deepEqual(s.events, ["beforeStart", "close"]);
});

Deno.test("Supervisor: cleanup that hangs never holds up the exit for long", async (t) => {
  await t.step("a hanging beforeStop() delays the stop signal by 1 s at most", async () => {
    using dir = confDir("port: 4222\n");
    await using children = new ScriptChildren();
    const s = supervised({ NATS_CONF: dir.conf }, {
      spawn: children.spawner(trappingScript({ INT: { exit: 0 } })),
      companion: { beforeStop: () => new Promise(() => {}) }, // never settles
    });
    const run = s.supervisor.run();
    await children.ready(0);
    const asked = performance.now();
    s.supervisor.onSignal("SIGTERM");
    await children.waitForSignals(0, 1);
    const waited = performance.now() - asked;
    assert.equal(await run, 0);
    // RELEASE_MS; a timer never fires early.
    assert.ok(waited >= 990, `signalled after ${waited.toFixed(0)} ms`);
    assert.ok(waited < 3000, `signalled after ${waited.toFixed(0)} ms`);
  });

  await t.step(
    "a hanging close() is cut off after 5 s; the exit has the child's status",
    async () => {
      using dir = confDir("port: 4222\n");
      await using children = new ScriptChildren();
      const s = supervised({ NATS_CONF: dir.conf }, {
        spawn: children.spawner("exit 3"),
        companion: { close: () => new Promise(() => {}) }, // never settles
      });
      const started = performance.now();
      assert.equal(await s.supervisor.run(), 3);
      const took = performance.now() - started;
      assert.ok(took >= 5000, `took ${took.toFixed(0)} ms`);
      assert.ok(
        s.entries.some((e) =>
          e.level === "error" &&
          e.msg === "shutting down the watchers and admin jobs took over 5000 ms; exiting anyway"
        ),
      );
    },
  );
});

Deno.test({
  name: "Supervisor: a stop during a leaf-mode restart exits at once, with nothing cut off",
  // restart() once never settled when a stop won over it: the pass that asked for the restart
  // waited for good, and the exit came only when CLOSE_MS (5 s) cut the cleanup off.
  fn: async () => {
    await using setup = await tempSetup();
    await using children = new ScriptChildren();
    const { log, entries } = captureLog();
    const settings = parseSettings({
      ...setup.env,
      NATS_SERVER_MODE: "leaf",
      NATS_MONITOR_PORT: "0",
      NATS_SYS_USER_CRED_PATH: "",
      POT_NATS_RESCAN_SECONDS: "0",
      POT_NATS_DEBOUNCE_MS: "10",
    }, setup.dir);
    // A nats-server slow to stop: the restart's SIGINT is written down, the stop's ends it.
    const slowToStop = [
      'd="$1"; n=0',
      `trap 'echo INT >> "$d/signals"; n=$((n+1)); [ $n -ge 2 ] && { kill "$p"; exit 0; }' INT`,
      "sleep 1000 & p=$!",
      ': > "$d/ready"',
      'while kill -0 "$p" 2>/dev/null; do wait "$p"; done',
    ].join("\n");
    const pipeline = new ChangePipeline({ settings, log });
    const supervisor = new Supervisor({
      settings,
      log,
      extraArgs: [],
      spawn: children.spawner(slowToStop),
      companion: pipeline,
      findPortInUse: () => Promise.resolve(undefined),
    });
    const run = supervisor.run();
    await children.ready(0);
    await pollUntil(
      "the first pass",
      () => entries.some((e) => e.msg === "change pass: no content changed"),
    );
    const config = Deno.readTextFileSync(setup.confPath);
    Deno.writeTextFileSync(setup.confPath, `${config}max_connections: 100\n`);
    await children.waitForSignals(0, 1); // the restart's SIGINT
    const stopped = performance.now();
    supervisor.onSignal("SIGTERM");
    assert.equal(await run, 0);
    const took = performance.now() - stopped;
    assert.deepEqual(entries.filter((e) => /took over/.test(e.msg)), []);
    assert.ok(took < 2000, `the supervisor exited ${took.toFixed(0)} ms after SIGTERM`);
  },
});
