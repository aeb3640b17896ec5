/**
 * ServerProcess with real child processes: small shell scripts that trap signals, write down which
 * ones they received, and exit with a chosen status, so stop, kill deadline, restart and exit codes
 * are tested with real signals in milliseconds. The kill deadline runs on a fake clock.
 */

import assert from "node:assert/strict";
import { pollUntil } from "../../dev/poll.ts";
import { FakeTimers } from "../../tests/_helpers/fake_timers.ts";
import { captureLog, type LogEntry } from "../../tests/_helpers/log_capture.ts";
import { ScriptChildren, trappingScript } from "../../tests/_helpers/script_children.ts";
import { ServerProcess, type ServerProcessOptions, type Spawner } from "./server_process.ts";

/** A ServerProcess on these children, logging into `entries`. */
function serverProcess(
  spawn: Spawner,
  options: Partial<ServerProcessOptions> = {},
): { server: ServerProcess; entries: LogEntry[] } {
  const { log, entries } = captureLog();
  const server = new ServerProcess({
    request: { bin: "nats-server", args: ["-c", "server.conf"], cwd: "/" },
    log,
    stopTimeoutMs: 10_000,
    spawn,
    ...options,
  });
  return { server, entries };
}

/** The run's outcome once it settles; `done` is false until then. */
function track(run: Promise<number>): { readonly done: boolean; result: Promise<number> } {
  let done = false;
  const result = run.finally(() => done = true);
  return {
    get done() {
      return done;
    },
    result,
  };
}

function messages(entries: LogEntry[], level?: string): string[] {
  return entries.filter((e) => level === undefined || e.level === level).map((e) => e.msg);
}

const STOPPED = "nats-server stopped";
const UNEXPECTED = "nats-server exited unexpectedly; exiting with its status";

Deno.test("ServerProcess: exit codes", async (t) => {
  await t.step("run() returns the child's exit code", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(children.spawner("exit 3"));
    assert.equal(await server.run(), 3);
    assert.deepEqual(messages(entries, "error"), [UNEXPECTED]);
    assert.equal(entries.find((e) => e.msg === UNEXPECTED)?.code, 3);
  });

  await t.step("a child killed by signal n makes run() return 128+n", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(children.spawner(trappingScript({})));
    const run = server.run();
    const child = await children.ready(0);
    Deno.kill(child.pid, "SIGTERM");
    assert.equal(await run, 128 + 15);
    const line = entries.find((e) => e.msg === UNEXPECTED);
    assert.equal(line?.code, 143);
    assert.equal(line?.signal, "SIGTERM");
  });

  await t.step(
    "a binary that cannot be spawned rejects run(), naming NATS_SERVER_BIN",
    async () => {
      const { log } = captureLog();
      // The real spawner, on a path that does not exist.
      const server = new ServerProcess({
        request: { bin: "/nonexistent/nats-server", args: [], cwd: "/" },
        log,
        stopTimeoutMs: 1000,
      });
      await assert.rejects(
        server.run(),
        /cannot start nats-server "\/nonexistent\/nats-server": .*; set NATS_SERVER_BIN to the path of a nats-server 2\.10\+ binary/,
      );
      assert.equal(server.signal("SIGHUP"), false, "no child to signal");
    },
  );
});

Deno.test("ServerProcess: stop() and its kill deadline", async (t) => {
  await t.step("stop() sends its signal, and the stop ends with the child's status", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(
      children.spawner(trappingScript({ INT: { exit: 0 } })),
    );
    const run = server.run();
    await children.ready(0);
    server.stop("SIGINT");
    assert.equal(server.stopping, true);
    assert.equal(await run, 0);
    assert.deepEqual(children.signals(0), ["INT"]);
    assert.deepEqual(messages(entries, "info").filter((m) => m.startsWith("nats-server")), [
      "nats-server started",
      STOPPED,
    ]);
    assert.deepEqual(messages(entries, "error"), []);
  });

  await t.step("a child that ignores the stop signal is killed after stopTimeoutMs", async () => {
    await using children = new ScriptChildren();
    const timers = new FakeTimers();
    const { server, entries } = serverProcess(
      children.spawner(trappingScript({ INT: "record" })),
      { timers, stopTimeoutMs: 5000 },
    );
    const run = track(server.run());
    await children.ready(0);
    server.stop("SIGINT");
    await children.waitForSignals(0, 1);
    timers.advanceSync(4999);
    assert.equal(timers.scheduled, 1, "the deadline has not passed yet");
    assert.equal(run.done, false);
    timers.advanceSync(1);
    assert.equal(await run.result, 137, "SIGKILL");
    assert.ok(
      messages(entries, "warn").includes("nats-server did not stop within 5000 ms; killing it"),
    );
    assert.equal(entries.find((e) => e.msg === STOPPED)?.signal, "SIGKILL");
  });

  await t.step("a second stop() passes its signal on but keeps the first deadline", async () => {
    await using children = new ScriptChildren();
    const timers = new FakeTimers();
    const { server } = serverProcess(
      children.spawner(trappingScript({ INT: "record", TERM: "record" })),
      { timers, stopTimeoutMs: 5000 },
    );
    const run = track(server.run());
    await children.ready(0);
    server.stop("SIGINT");
    await children.waitForSignals(0, 1);
    timers.advanceSync(4000);
    server.stop("SIGTERM");
    // The child is alive a moment before the first deadline: it records the second signal.
    assert.deepEqual(await children.waitForSignals(0, 2), ["INT", "TERM"]);
    timers.advanceSync(999);
    assert.equal(run.done, false);
    timers.advanceSync(1);
    assert.equal(await run.result, 137, "killed at the first stop's deadline, 5000 ms after it");
    assert.equal(timers.scheduled, 0);
  });

  await t.step("a child that exits in time clears the deadline", async () => {
    await using children = new ScriptChildren();
    const timers = new FakeTimers();
    const { server } = serverProcess(
      children.spawner(trappingScript({ TERM: { exit: 0 } })),
      { timers, stopTimeoutMs: 5000 },
    );
    const run = server.run();
    await children.ready(0);
    server.stop("SIGTERM");
    assert.equal(await run, 0);
    assert.equal(timers.scheduled, 0, "no SIGKILL left armed");
  });
});

Deno.test("ServerProcess: restart()", async (t) => {
  await t.step("restart() starts a new child and is not an exit", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(
      children.spawner(trappingScript({ INT: { exit: 0 } })),
    );
    const run = track(server.run());
    await children.ready(0);
    await server.restart();
    assert.equal(children.spawned.length, 2);
    assert.deepEqual(children.signals(0), ["INT"], "restarted gracefully, with SIGINT");
    await children.ready(1);
    assert.equal(run.done, false, "a restart is not an exit");
    assert.ok(
      messages(entries, "info").includes("nats-server stopped for restart; starting it again"),
    );
    server.stop("SIGINT");
    assert.equal(await run.result, 0);
    assert.deepEqual(children.signals(1), ["INT"]);
    assert.equal(children.spawned.length, 2, "a stop does not start another child");
  });

  await t.step("a child that ignores the restart's SIGINT is killed at the deadline", async () => {
    await using children = new ScriptChildren();
    const timers = new FakeTimers();
    const { server, entries } = serverProcess(
      children.spawner(trappingScript({ INT: "record" }), trappingScript({ TERM: { exit: 0 } })),
      { timers, stopTimeoutMs: 5000 },
    );
    const run = server.run();
    await children.ready(0);
    const restarted = server.restart();
    await children.waitForSignals(0, 1);
    timers.advanceSync(5000);
    await restarted;
    assert.equal((await children.spawned[0]!.status).code, 137);
    assert.ok(
      messages(entries, "warn").includes("nats-server did not restart within 5000 ms; killing it"),
    );
    await children.ready(1);
    server.stop("SIGTERM");
    assert.equal(await run, 0);
  });

  await t.step("restart() during a stop does nothing", async () => {
    await using children = new ScriptChildren();
    const { server } = serverProcess(children.spawner(trappingScript({ TERM: "record" })));
    const run = server.run();
    await children.ready(0);
    server.stop("SIGTERM");
    await children.waitForSignals(0, 1);
    await server.restart(); // resolves at once
    assert.deepEqual(children.signals(0), ["TERM"], "no SIGINT for a restart");
    server.signal("SIGKILL");
    assert.equal(await run, 137);
    assert.equal(children.spawned.length, 1);
  });

  await t.step("a stop during a restart wins: no new child, run() ends", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(
      children.spawner(trappingScript({ INT: "record", TERM: { exit: 0 } })),
    );
    const run = server.run();
    await children.ready(0);
    void server.restart();
    await children.waitForSignals(0, 1);
    server.stop("SIGTERM");
    assert.equal(await run, 0);
    assert.deepEqual(children.signals(0), ["INT", "TERM"]);
    assert.equal(children.spawned.length, 1, "no child started after the stop");
    assert.ok(messages(entries, "info").includes(STOPPED));
  });

  await t.step({
    name: "the restart() a stop won over settles once run() has ended",
    // A SIGTERM that arrives while nats-server is stopping for a restart must not hold the
    // supervisor's exit: the pipeline awaits restart() inside a pass, and close() awaits the pass.
    fn: async () => {
      await using children = new ScriptChildren();
      const { server } = serverProcess(
        children.spawner(trappingScript({ INT: "record", TERM: { exit: 0 } })),
      );
      const run = server.run();
      await children.ready(0);
      const restarted = track(server.restart().then(() => 0));
      await children.waitForSignals(0, 1);
      server.stop("SIGTERM");
      assert.equal(await run, 0);
      await pollUntil("restart() to settle", () => restarted.done, { timeoutMs: 2000 });
    },
  });
});

Deno.test("ServerProcess: an exit nobody asked for, and stop requests around it", async (t) => {
  // SIGUSR1 stands for what reaches nats-server past the supervisor (a terminal's Ctrl-C).
  const script = trappingScript({ USR1: { exit: 5 } });

  await t.step("expectStop() before the exit makes it a stop", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(children.spawner(script));
    const run = server.run();
    const child = await children.ready(0);
    server.expectStop();
    Deno.kill(child.pid, "SIGUSR1");
    assert.equal(await run, 5, "the child's status");
    assert.deepEqual(messages(entries, "error"), []);
    assert.equal(entries.find((e) => e.msg === STOPPED)?.code, 5);
  });

  await t.step("expectStop() just after the exit, within the window, makes it a stop", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(children.spawner(script));
    const run = server.run();
    const child = await children.ready(0);
    Deno.kill(child.pid, "SIGUSR1");
    await child.status;
    server.expectStop();
    assert.equal(await run, 5);
    assert.deepEqual(messages(entries, "error"), []);
    assert.ok(messages(entries, "info").includes(STOPPED));
  });

  await t.step("without a stop request the exit counts as unexpected after ~250 ms", async () => {
    await using children = new ScriptChildren();
    const { server, entries } = serverProcess(children.spawner(script));
    const run = server.run();
    const child = await children.ready(0);
    Deno.kill(child.pid, "SIGUSR1");
    await child.status;
    const exitedAt = performance.now();
    assert.equal(await run, 5);
    const waited = performance.now() - exitedAt;
    // STOP_REQUEST_WINDOW_MS; a timer never fires early, so this bound holds under any load.
    assert.ok(waited >= 245, `waited ${waited} ms for a stop request`);
    assert.deepEqual(messages(entries, "error"), [UNEXPECTED]);
    assert.ok(!messages(entries).includes(STOPPED));
  });
});
