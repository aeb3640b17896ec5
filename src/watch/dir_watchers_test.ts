import assert from "node:assert/strict";
import { join } from "node:path";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { pollUntil } from "../../dev/poll.ts";
import type { Timers } from "../shared/timing.ts";
import { DirWatchers } from "./dir_watchers.ts";
import { kubeletWrite } from "../../dev/kubelet.ts";
import { writeFileAtomic } from "../mirror/writes.ts";
import type { WatcherThreadState } from "./watcher_thread.ts";

/**
 * A manual clock for the directory check: its timers fire only inside `tick`. It runs a minute
 * ahead, so that directories the test makes count as changed long before their first record.
 */
class ManualTimers implements Timers {
  #now = Date.now() + 60_000;
  #nextId = 1;
  readonly #timers = new Map<number, () => void>();
  readonly #delays = new Map<number, number>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    this.#timers.set(this.#nextId, fn);
    this.#delays.set(this.#nextId, ms);
    return this.#nextId++;
  }

  /** Runs the pending timers of at most `ms` (the arming retries), not the directory check. */
  fireShort(ms: number): number {
    const due = [...this.#timers].filter(([id]) => this.#delays.get(id)! <= ms);
    for (const [id] of due) this.#timers.delete(id);
    for (const [, fn] of due) fn();
    return due.length;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** Runs the pending directory check, a second later than the last one. */
  tick(): void {
    this.#now += 1000;
    const due = [...this.#timers];
    this.#timers.clear();
    for (const [, fn] of due) fn();
  }
}

function setUp(dir: string) {
  const { log, entries } = captureLog();
  const timers = new ManualTimers();
  let state: WatcherThreadState = "free";
  let events = 0;
  const committed: boolean[] = [];
  const fifos: string[] = [];
  const watchers = new DirWatchers((kind) => (events++, committed.push(kind === "commit")), log, {
    timers,
    threadState: () => state,
    onFifo: (path) => fifos.push(path),
  });
  return {
    watchers,
    timers,
    entries,
    fifos,
    dirs: new Set([dir]),
    get events() {
      return events;
    },
    /** Whether each event was marked a commit, in order. */
    committed,
    setState(next: WatcherThreadState) {
      state = next;
    },
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-dir-watchers-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("dir watchers: armed only while the watcher thread is free, then by a check", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.setState("opening a FIFO");
      assert.equal(t.watchers.sync(t.dirs), 0);
      t.watchers.recordDirStates(); // the next pass
      assert.deepEqual(t.watchers.watched, []);
      t.timers.tick();
      assert.deepEqual(t.watchers.watched, [], "still blocked");
      t.setState("free");
      t.timers.tick();
      assert.deepEqual(t.watchers.watched, [dir]);
      assert.equal(t.events, 1, "armed after the content was read: one more pass");
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: an unwanted watcher is closed only once the thread is free", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.watchers.sync(t.dirs);
      assert.deepEqual(t.watchers.watched, [dir]);
      t.setState("busy");
      t.watchers.sync(new Set());
      assert.deepEqual(t.watchers.watched, [dir], "not closed while the thread is busy");
      t.setState("free");
      t.timers.tick();
      assert.deepEqual(t.watchers.watched, []);
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: the directory check sees a new entry while no watcher is armed", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      // Changed long ago: the new entry below moves its mtime even within one clock tick.
      Deno.utimeSync(dir, 1_000_000, 1_000_000);
      t.setState("opening a FIFO");
      t.watchers.sync(t.dirs);
      t.watchers.recordDirStates(); // the next pass
      t.timers.tick();
      assert.equal(t.events, 0);
      Deno.writeTextFileSync(join(dir, "new.jwt"), "x");
      t.timers.tick();
      assert.equal(t.events, 1);
    } finally {
      t.setState("free");
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: a FIFO is held before any watcher is armed, and reported", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    const fifo = join(dir, "fifo.jwt");
    const output = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
    assert.ok(output.success);
    try {
      t.setState("opening a FIFO");
      t.watchers.sync(t.dirs);
      assert.deepEqual(t.watchers.heldFifos, [fifo], "held even while the thread is blocked");
      assert.deepEqual(t.fifos, [fifo]);
    } finally {
      Deno.removeSync(fifo);
      t.setState("free");
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: a thread blocked across two checks is said once, and its end", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.watchers.sync(t.dirs);
      t.setState("opening a FIFO");
      for (let i = 0; i < 4; i++) t.timers.tick();
      t.setState("free");
      t.timers.tick();
      assert.deepEqual(
        t.entries.map((e) => [e.level, e.msg]).filter(([level]) => level !== "debug"),
        [
          [
            "warn",
            "the file watcher thread is blocked opening a FIFO that is gone or cannot be held open",
          ],
          ["info", "the file watcher thread is free again"],
        ],
      );
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test({
  name: "dir watchers: closed while the thread is blocked, the watchers are left to the exit",
  // The watcher left open is the point: closing it would wait for a blocked thread forever.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const t = setUp(dir);
      t.watchers.sync(t.dirs);
      t.setState("opening a FIFO");
      await t.watchers.close();
      assert.deepEqual(t.watchers.watched, []);
      assert.equal(t.watchers.sync(t.dirs), 0, "closed for good");
    });
  },
});

Deno.test("dir watchers: a file event still asks for a pass", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.watchers.sync(t.dirs);
      Deno.writeTextFileSync(join(dir, "a.jwt"), "x");
      await pollUntil("an event", () => t.events > 0);
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: a watched directory that is removed and made again is watched again", async () => {
  await withTempDir(async (parent) => {
    const dir = join(parent, "watched");
    Deno.mkdirSync(dir);
    const t = setUp(dir);
    try {
      assert.equal(t.watchers.sync(t.dirs), 1);
      Deno.removeSync(dir);
      // The dead watcher is dropped, and a pass is asked for (which re-arms).
      await pollUntil(
        "the removed directory's watcher to be dropped",
        () => t.watchers.watched.length === 0 && t.events > 0,
      );
      assert.equal(t.watchers.sync(t.dirs), 0, "nothing to watch while it is gone");
      Deno.mkdirSync(dir);
      assert.equal(t.watchers.sync(t.dirs), 1, "armed again, on the new directory");
      assert.deepEqual(t.watchers.watched, [dir]);
      const before = t.events;
      Deno.writeTextFileSync(join(dir, "a.jwt"), "x");
      await pollUntil("an event from the new directory", () => t.events > before);
    } finally {
      await t.watchers.close();
    }
  });
});

/** A watched path that is a symlink to `first`, for swapping to `second` as kubelet swaps `..data`. */
async function withSymlinkedDir(
  fn: (paths: { dir: string; first: string; second: string; swap: () => void }) => Promise<void>,
): Promise<void> {
  await withTempDir(async (parent) => {
    const [first, second, dir] = ["first", "second", "watched"].map((name) => join(parent, name));
    Deno.mkdirSync(first!);
    Deno.mkdirSync(second!);
    Deno.symlinkSync(first!, dir!);
    const swap = () => {
      // Atomically: nothing is removed, so no watcher ends by itself.
      Deno.symlinkSync(second!, join(parent, "next"));
      Deno.renameSync(join(parent, "next"), dir!);
    };
    await fn({ dir: dir!, first: first!, second: second!, swap });
  });
}

Deno.test("dir watchers: a directory whose inode changed (a swapped symlink) is re-armed", async () => {
  await withSymlinkedDir(async ({ dir, swap }) => {
    const t = setUp(dir);
    try {
      assert.equal(t.watchers.sync(t.dirs), 1);
      assert.equal(t.watchers.sync(t.dirs), 0, "an unchanged directory is not re-armed");
      swap();
      const before = t.events;
      assert.equal(t.watchers.sync(t.dirs), 0, "the old watcher is closed first");
      await pollUntil(
        "the watcher re-armed on the new inode",
        () => t.watchers.watched.includes(dir),
        { timeoutMs: 5000 },
      );
      assert.ok(t.events > before, "a re-arm asks for a pass: the dir was unwatched a moment");
      assert.equal(t.watchers.sync(t.dirs), 0, "and only once");
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test({
  name: "dir watchers: the watcher re-armed on a swapped symlink hears the new directory",
  // Deno 2.9.6: a new Deno.watchFs() on the path while the old watcher is still closing keeps
  // getting the OLD directory's events, so a swapped symlinked dir went deaf to edits in place.
  fn: async () => {
    await withSymlinkedDir(async ({ dir, second, swap }) => {
      const t = setUp(dir);
      try {
        t.watchers.sync(t.dirs);
        swap();
        t.watchers.sync(t.dirs);
        await pollUntil("the re-armed watcher", () => t.watchers.watched.includes(dir), {
          timeoutMs: 5000,
        });
        const before = t.events;
        Deno.writeTextFileSync(join(second, "a.jwt"), "x");
        await pollUntil(
          "an event from the directory the link now points at",
          () => t.events > before,
          { timeoutMs: 5000 },
        );
      } finally {
        await t.watchers.close();
      }
    });
  },
});

Deno.test("dir watchers: events are marked commits only when the change is complete", async (t) => {
  await t.step("a kubelet swap: every event of it", async () => {
    await withTempDir(async (dir) => {
      const volume = join(dir, "volume");
      await kubeletWrite(volume, { "a.jwt": "1" });
      const t = setUp(volume);
      try {
        t.watchers.sync(t.dirs);
        await kubeletWrite(volume, { "a.jwt": "2", "b.jwt": "new" });
        await pollUntil("the swap's events", () => t.committed.length > 0, { timeoutMs: 5000 });
        assert.ok(t.committed.every(Boolean), JSON.stringify(t.committed));
      } finally {
        await t.watchers.close();
      }
    });
  });

  await t.step("an atomic write (temp file, rename): the rename commits", async () => {
    await withTempDir(async (dir) => {
      const t = setUp(dir);
      try {
        t.watchers.sync(t.dirs);
        t.watchers.recordDirStates();
        await writeFileAtomic(join(dir, "a.jwt"), "x");
        await pollUntil("the rename's commit", () => t.committed.at(-1) === true, {
          timeoutMs: 5000,
        });
      } finally {
        await t.watchers.close();
      }
    });
  });

  await t.step("a write in place: no commit", async () => {
    await withTempDir(async (dir) => {
      const t = setUp(dir);
      try {
        t.watchers.sync(t.dirs);
        const file = await Deno.open(join(dir, "server.conf"), { write: true, create: true });
        await file.write(new TextEncoder().encode("port: 1\n"));
        file.close();
        // The close is the last event of the write: once it is in, all of them are.
        await pollUntil("the write's events", () => t.committed.length >= 2, { timeoutMs: 5000 });
        await writeFileAtomic(join(dir, "a.jwt"), "x");
        // Once server.conf is gone it no longer counts as being written, so the next atomic write
        // commits. Events come in order: once that commit is in, every event before it is too.
        await Deno.remove(join(dir, "server.conf"));
        await writeFileAtomic(join(dir, "b.jwt"), "y");
        await pollUntil("the second rename's commit", () => t.committed.at(-1) === true, {
          timeoutMs: 5000,
        });
        assert.equal(t.committed.filter(Boolean).length, 1, JSON.stringify(t.committed));
      } finally {
        await t.watchers.close();
      }
    });
  });
});

Deno.test("dir watchers: arming a busy thread missed is tried again within milliseconds", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.setState("busy");
      assert.equal(t.watchers.sync(t.dirs), 0);
      t.setState("free");
      assert.equal(t.timers.fireShort(10), 1, "a retry, not the directory check");
      assert.deepEqual(t.watchers.watched, [dir]);
      assert.equal(t.events, 1, "armed late: one more pass");
      assert.equal(t.timers.fireShort(10), 0, "nothing left to retry");
    } finally {
      await t.watchers.close();
    }
  });
});

Deno.test("dir watchers: a thread that stays busy is left to the directory check", async () => {
  await withTempDir(async (dir) => {
    const t = setUp(dir);
    try {
      t.setState("busy");
      t.watchers.sync(t.dirs);
      let retries = 0;
      while (t.timers.fireShort(10) > 0) retries++;
      assert.equal(retries, 20);
      t.setState("opening a FIFO");
      t.watchers.sync(t.dirs);
      assert.equal(t.timers.fireShort(10), 0, "no retry while blocked on a FIFO");
    } finally {
      await t.watchers.close();
    }
  });
});
