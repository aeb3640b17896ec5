import assert from "node:assert/strict";
import { join } from "node:path";
import { watcherThreadFree, watcherThreadState } from "./watcher_thread.ts";

/** A fake `/proc/<pid>/task` directory: one entry per thread, with its name and wchan. */
async function fakeTaskDir(threads: [comm: string, wchan: string][]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-task-" });
  for (const [index, [comm, wchan]] of threads.entries()) {
    const task = join(dir, String(100 + index));
    await Deno.mkdir(task);
    await Deno.writeTextFile(join(task, "comm"), `${comm}\n`);
    await Deno.writeTextFile(join(task, "wchan"), wchan);
  }
  return dir;
}

Deno.test("watcher thread: its state from where Linux says it sleeps", async (t) => {
  const cases: [string, [string, string][], string][] = [
    ["no watcher yet", [["deno", "0"], ["tokio-runtime-w", "futex_do_wait"]], "unknown"],
    ["waiting for events", [["deno", "0"], ["notify-rs inoti", "do_epoll_wait"]], "free"],
    ["stuck opening a FIFO", [["notify-rs inoti", "wait_for_partner"]], "opening a FIFO"],
    ["handling events", [["notify-rs inoti", "0"]], "busy"],
    [
      "one of two (two isolates) stuck",
      [["notify-rs inoti", "do_epoll_wait"], ["notify-rs inoti", "wait_for_partner"]],
      "opening a FIFO",
    ],
  ];
  for (const [name, threads, expected] of cases) {
    await t.step(name, async () => {
      const dir = await fakeTaskDir(threads);
      try {
        assert.equal(watcherThreadState(dir), expected);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
  await t.step("no /proc", () => {
    assert.equal(watcherThreadState("/nonexistent/task"), "unknown");
  });
});

Deno.test("watcher thread: arming and closing are safe only while it waits for events", () => {
  assert.equal(watcherThreadFree("free"), true);
  assert.equal(watcherThreadFree("unknown"), true);
  assert.equal(watcherThreadFree("busy"), false);
  assert.equal(watcherThreadFree("opening a FIFO"), false);
});

Deno.test("watcher thread: this process's, once it watches", async () => {
  const dir = await Deno.makeTempDir();
  const watcher = Deno.watchFs(dir);
  try {
    assert.notEqual(watcherThreadState(), "unknown");
  } finally {
    watcher.close();
    await Deno.remove(dir);
  }
});
