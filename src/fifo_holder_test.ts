import assert from "node:assert/strict";
import { closeSync, constants, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { captureLog } from "../tests/_helpers/log_capture.ts";
import { pollUntil } from "../tests/_helpers/poll.ts";
import { FifoHolder } from "./fifo_holder.ts";
import { watcherThreadState } from "./watcher_thread.ts";

function mkfifo(path: string): void {
  const output = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

/**
 * Whether the FIFO at `path` has a writer: a non-blocking read of an empty FIFO reports the end
 * (0 bytes) without one and EAGAIN with one.
 */
function hasWriter(path: string): boolean {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return readSync(fd, new Uint8Array(1)) !== 0;
  } catch (error) {
    if ((error as { code?: string }).code === "EAGAIN") return true;
    throw error;
  } finally {
    closeSync(fd);
  }
}

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-fifo-holder-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function holder(options: { maxHeld?: number } = {}) {
  const { log, entries } = captureLog();
  const found: string[] = [];
  const fifos = new FifoHolder({ log, onFifo: (path) => found.push(path), ...options });
  return { fifos, found, entries };
}

Deno.test("FIFO holder: holds FIFOs and links to them, nothing else", async () => {
  await withTempDir((dir) => {
    const { fifos, found } = holder();
    const fifo = join(dir, "fifo.jwt");
    mkfifo(fifo);
    mkfifo(join(dir, "..hidden"));
    Deno.symlinkSync("..hidden", join(dir, "link.jwt"));
    Deno.writeTextFileSync(join(dir, "file.jwt"), "x");
    Deno.symlinkSync("file.jwt", join(dir, "file-link.jwt"));
    Deno.symlinkSync("/dev/null", join(dir, "null.jwt"));
    Deno.mkdirSync(join(dir, "sub"));
    const socket = Deno.listen({ transport: "unix", path: join(dir, "socket") });
    try {
      assert.equal(hasWriter(fifo), false, "the premise: no writer");
      fifos.hold([dir]);
      assert.deepEqual(fifos.held, [join(dir, "..hidden"), fifo, join(dir, "link.jwt")]);
      assert.equal(hasWriter(fifo), true);
      assert.equal(hasWriter(join(dir, "..hidden")), true);
      fifos.hold([dir]);
      assert.deepEqual(found.length, 3, "reported once each");
    } finally {
      socket.close();
      fifos.close();
    }
    assert.equal(hasWriter(fifo), false, "let go on close");
  });
});

Deno.test("FIFO holder: a symlink just read as a regular file is not followed again", async () => {
  await withTempDir((dir) => {
    const { fifos } = holder();
    mkfifo(join(dir, "target"));
    Deno.symlinkSync(join(dir, "target"), join(dir, "x.jwt"));
    const other = `${dir}-other`;
    Deno.mkdirSync(other);
    try {
      Deno.symlinkSync(join(dir, "target"), join(other, "x.jwt"));
      fifos.hold([other], { knownRegular: (path) => path === join(other, "x.jwt") });
      assert.deepEqual(fifos.held, []);
    } finally {
      fifos.close();
      Deno.removeSync(other, { recursive: true });
    }
  });
});

Deno.test("FIFO holder: a replaced FIFO is held anew, a removed one let go", async () => {
  await withTempDir((dir) => {
    const { fifos, found } = holder();
    const fifo = join(dir, "fifo");
    mkfifo(fifo);
    fifos.hold([dir]);
    Deno.removeSync(fifo);
    mkfifo(fifo);
    assert.equal(hasWriter(fifo), false, "the new FIFO has no writer yet");
    fifos.hold([dir]);
    assert.equal(hasWriter(fifo), true);
    assert.deepEqual(found, [fifo, fifo]);
    fifos.release(new Set([dir]));
    assert.deepEqual(fifos.held, [fifo], "still there: kept");
    Deno.removeSync(fifo);
    fifos.release(new Set([dir]));
    assert.deepEqual(fifos.held, []);
  });
});

Deno.test("FIFO holder: FIFOs of a directory no longer watched are let go", async () => {
  await withTempDir((dir) => {
    const { fifos } = holder();
    const fifo = join(dir, "fifo");
    mkfifo(fifo);
    fifos.hold([dir]);
    fifos.release(new Set(["/elsewhere"]));
    assert.deepEqual(fifos.held, []);
    assert.equal(hasWriter(fifo), false);
  });
});

Deno.test("FIFO holder: at most maxHeld FIFOs, and one warning beyond", async () => {
  await withTempDir((dir) => {
    const { fifos, entries } = holder({ maxHeld: 2 });
    for (const name of ["a", "b", "c", "d"]) mkfifo(join(dir, name));
    try {
      fifos.hold([dir]);
      fifos.hold([dir]);
      assert.equal(fifos.held.length, 2);
      assert.equal(entries.filter((e) => /more than 2 FIFOs/.test(e.msg)).length, 1);
    } finally {
      fifos.close();
    }
  });
});

Deno.test("FIFO holder: a FIFO it may not open for writing is warned about once", async () => {
  await withTempDir((dir) => {
    const { fifos, entries } = holder();
    const fifo = join(dir, "fifo");
    mkfifo(fifo);
    Deno.chmodSync(fifo, 0o400);
    if (Deno.uid() === 0) return; // root may open anything: nothing to refuse
    fifos.hold([dir]);
    fifos.hold([dir]);
    assert.deepEqual(fifos.held, []);
    assert.equal(entries.filter((e) => e.msg.startsWith(`cannot hold the FIFO ${fifo}`)).length, 1);
  });
});

Deno.test("FIFO holder: releases Deno's watcher thread blocked opening a FIFO", async () => {
  await withTempDir(async (dir) => {
    const { fifos } = holder();
    const watcher = Deno.watchFs(dir, { recursive: false });
    const events = (async () => {
      for await (const _ of watcher) {
        // Only the thread's state matters here.
      }
    })();
    try {
      const fifo = join(dir, "fifo");
      mkfifo(fifo);
      await pollUntil("the watcher thread to block", () => {
        return watcherThreadState() === "opening a FIFO";
      }, { timeoutMs: 5000, intervalMs: 5 });
      fifos.hold([dir]);
      await pollUntil("the watcher thread to be free", () => watcherThreadState() === "free", {
        timeoutMs: 5000,
        intervalMs: 5,
      });
      // Removed before it is let go, so that letting go raises no event on a FIFO without writer.
      Deno.removeSync(fifo);
      fifos.release(new Set([dir]));
      await pollUntil("the watcher thread to be free", () => watcherThreadState() === "free");
    } finally {
      watcher.close();
      await events;
      fifos.close();
    }
  });
});
