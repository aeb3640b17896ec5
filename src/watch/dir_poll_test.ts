import assert from "node:assert/strict";
import { DirPoll, RACY_MS } from "./dir_poll.ts";
import { FakeTimers } from "../../tests/_helpers/fake_timers.ts";

/** Directories as a stat sees them, editable by the test. */
class FakeDirs {
  readonly #dirs = new Map<string, { ino: number; mtime: number }>();

  constructor(readonly timers: FakeTimers) {}

  /** Creates or changes `dir` now (a new entry in it moves its mtime). */
  touch(dir: string, options: { ino?: number; mtime?: number } = {}): void {
    const previous = this.#dirs.get(dir);
    this.#dirs.set(dir, {
      ino: options.ino ?? previous?.ino ?? 1,
      mtime: options.mtime ?? this.timers.now(),
    });
  }

  remove(dir: string): void {
    this.#dirs.delete(dir);
  }

  stat = (dir: string): Deno.FileInfo | undefined => {
    const entry = this.#dirs.get(dir);
    if (entry === undefined) return undefined;
    const time = new Date(entry.mtime);
    return { dev: 1, ino: entry.ino, mtime: time, ctime: time } as Deno.FileInfo;
  };
}

function setUp() {
  const timers = new FakeTimers(10_000);
  const dirs = new FakeDirs(timers);
  const checks: boolean[] = [];
  /** Kubelet volumes: what each shows (its `..data` version and visible names). */
  const views = new Map<string, string>();
  const listed: string[] = [];
  const poll = new DirPoll({
    intervalMs: 1000,
    onCheck: (changed) => checks.push(changed),
    timers,
    stat: dirs.stat,
    kubeletView: (dir) => {
      listed.push(dir);
      return views.get(dir);
    },
  });
  // Directories last changed long before the test begins: their records are not racy.
  for (const dir of ["/a", "/b"]) dirs.touch(dir, { mtime: 0 });
  return { timers, dirs, checks, poll, views, listed };
}

Deno.test("directory check: nothing changed, nothing asked for, once a second", () => {
  const { timers, checks, poll } = setUp();
  poll.watch(["/a", "/b"]);
  poll.record(); // the first pass
  timers.advanceSync(3500);
  assert.deepEqual(checks, [false, false, false]);
  poll.close();
  assert.equal(timers.scheduled, 0);
});

Deno.test("directory check: a change after the record asks for one pass", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a", "/b"]);
  timers.advanceSync(400);
  dirs.touch("/b");
  timers.advanceSync(600);
  assert.deepEqual(checks, [true], "at the next check");
  timers.advanceSync(2000);
  assert.deepEqual(checks, [true, false, false], "once per change");
  poll.close();
});

Deno.test("directory check: a change the scan saw after record() is not asked for again", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advanceSync(300);
  dirs.touch("/a"); // the watcher reports it; the pass records before it reads
  timers.advanceSync(RACY_MS);
  poll.record();
  timers.advanceSync(600);
  assert.deepEqual(checks, [false]);
  poll.close();
});

Deno.test("directory check: a directory that goes, comes back or is replaced is a change", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  dirs.remove("/a");
  timers.advanceSync(1000);
  dirs.touch("/a", { mtime: 0 });
  timers.advanceSync(1000);
  dirs.touch("/a", { ino: 2, mtime: 0 });
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true, true, true]);
  poll.close();
});

Deno.test("directory check: a record taken right after a change is looked at once more", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advanceSync(500);
  // Changed, recorded within the same tick of the file system clock, then changed again: the
  // mtime cannot tell the second change from the first.
  dirs.touch("/a");
  poll.record();
  dirs.touch("/a");
  timers.advanceSync(500);
  assert.deepEqual(checks, [true]);
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true, false], "by then the record is trusted");
  poll.close();
});

Deno.test("directory check: an mtime far in the future is not looked at every second", () => {
  const { timers, dirs, checks, poll } = setUp();
  dirs.touch("/a", { mtime: timers.now() + 3_600_000 });
  poll.watch(["/a"]);
  poll.record();
  timers.advanceSync(3000);
  assert.deepEqual(checks, [false, false, false]);
  poll.close();
});

Deno.test("directory check: a directory first seen after the scan is looked at once more", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true], "read before it was recorded: a change may hide in between");
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true, false]);
  poll.watch(["/b"]);
  dirs.touch("/a", { ino: 9 });
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true, false, true], "/b is new; /a is no longer checked");
  timers.advanceSync(1000);
  assert.deepEqual(checks, [true, false, true, false]);
  poll.close();
});

Deno.test("directory check: a kubelet volume changes with its version or visible names only", () => {
  const { timers, dirs, checks, poll, views } = setUp();
  views.set("/a", "..v1:names1");
  poll.watch(["/a"]);
  poll.record();
  timers.advanceSync(1000);
  assert.deepEqual(checks, [false]);
  // Kubelet creates the next version's hidden dir and writes into it: the mtime moves, what the
  // volume shows does not. (Asking for a pass here read every file while kubelet still wrote.)
  timers.advanceSync(500);
  dirs.touch("/a");
  timers.advanceSync(500);
  assert.deepEqual(checks, [false, false]);
  // The swap: a new `..data` version.
  views.set("/a", "..v2:names1");
  dirs.touch("/a");
  timers.advanceSync(1000);
  assert.deepEqual(checks, [false, false, true]);
  poll.record();
  // A visible name appears right after (same version): a change too.
  views.set("/a", "..v2:names2");
  dirs.touch("/a");
  timers.advanceSync(1000);
  assert.deepEqual(checks, [false, false, true, true]);
  poll.close();
});

Deno.test("directory check: a kubelet volume is listed only when its mtime moved", () => {
  const { timers, dirs, poll, views, listed } = setUp();
  views.set("/a", "..v1:names1");
  poll.watch(["/a"]);
  poll.record();
  timers.advanceSync(5000);
  assert.equal(listed.length, 1, "listed once, when first seen");
  dirs.touch("/a");
  timers.advanceSync(1000);
  assert.equal(listed.length, 2, "listed again once its mtime moved");
  timers.advanceSync(3000);
  assert.equal(listed.length, 2);
  // A listing taken within the mtime's tick (a record right after a change): a change may hide in
  // it, so it is taken once more, then trusted.
  dirs.touch("/a");
  poll.record();
  assert.equal(listed.length, 3);
  timers.advanceSync(1000);
  assert.equal(listed.length, 4);
  timers.advanceSync(3000);
  assert.equal(listed.length, 4);
  poll.close();
});
