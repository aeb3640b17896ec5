import assert from "node:assert/strict";
import type { Timers } from "./debounce.ts";
import { DirPoll, RACY_MS } from "./dir_poll.ts";

/** A manual clock whose timers fire only inside `advance`. */
class FakeTimers implements Timers {
  #now = 10_000;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  get scheduled(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = [...this.#timers].filter(([, t]) =>
        t.at <= target
      ).sort((a, b) => a[1].at - b[1].at)[0];
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = target;
  }
}

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
  const timers = new FakeTimers();
  const dirs = new FakeDirs(timers);
  const checks: boolean[] = [];
  const poll = new DirPoll({
    intervalMs: 1000,
    onCheck: (changed) => checks.push(changed),
    timers,
    stat: dirs.stat,
  });
  // Directories last changed long before the test begins: their records are not racy.
  for (const dir of ["/a", "/b"]) dirs.touch(dir, { mtime: 0 });
  return { timers, dirs, checks, poll };
}

Deno.test("directory check: nothing changed, nothing asked for, once a second", () => {
  const { timers, checks, poll } = setUp();
  poll.watch(["/a", "/b"]);
  poll.record(); // the first pass
  timers.advance(3500);
  assert.deepEqual(checks, [false, false, false]);
  poll.close();
  assert.equal(timers.scheduled, 0);
});

Deno.test("directory check: a change after the record asks for one pass", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a", "/b"]);
  timers.advance(400);
  dirs.touch("/b");
  timers.advance(600);
  assert.deepEqual(checks, [true], "at the next check");
  timers.advance(2000);
  assert.deepEqual(checks, [true, false, false], "once per change");
  poll.close();
});

Deno.test("directory check: a change the scan saw after record() is not asked for again", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advance(300);
  dirs.touch("/a"); // the watcher reports it; the pass records before it reads
  timers.advance(RACY_MS);
  poll.record();
  timers.advance(600);
  assert.deepEqual(checks, [false]);
  poll.close();
});

Deno.test("directory check: a directory that goes, comes back or is replaced is a change", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  dirs.remove("/a");
  timers.advance(1000);
  dirs.touch("/a", { mtime: 0 });
  timers.advance(1000);
  dirs.touch("/a", { ino: 2, mtime: 0 });
  timers.advance(1000);
  assert.deepEqual(checks, [true, true, true]);
  poll.close();
});

Deno.test("directory check: a record taken right after a change is looked at once more", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advance(500);
  // Changed, recorded within the same tick of the file system clock, then changed again: the
  // mtime cannot tell the second change from the first.
  dirs.touch("/a");
  poll.record();
  dirs.touch("/a");
  timers.advance(500);
  assert.deepEqual(checks, [true]);
  timers.advance(1000);
  assert.deepEqual(checks, [true, false], "by then the record is trusted");
  poll.close();
});

Deno.test("directory check: an mtime far in the future is not looked at every second", () => {
  const { timers, dirs, checks, poll } = setUp();
  dirs.touch("/a", { mtime: timers.now() + 3_600_000 });
  poll.watch(["/a"]);
  poll.record();
  timers.advance(3000);
  assert.deepEqual(checks, [false, false, false]);
  poll.close();
});

Deno.test("directory check: a directory first seen after the scan is looked at once more", () => {
  const { timers, dirs, checks, poll } = setUp();
  poll.watch(["/a"]);
  timers.advance(1000);
  assert.deepEqual(checks, [true], "read before it was recorded: a change may hide in between");
  timers.advance(1000);
  assert.deepEqual(checks, [true, false]);
  poll.watch(["/b"]);
  dirs.touch("/a", { ino: 9 });
  timers.advance(1000);
  assert.deepEqual(checks, [true, false, true], "/b is new; /a is no longer checked");
  timers.advance(1000);
  assert.deepEqual(checks, [true, false, true, false]);
  poll.close();
});
