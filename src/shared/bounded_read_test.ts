import assert from "node:assert/strict";
import { join } from "node:path";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import {
  FileGuard,
  FileRejectedError,
  identityKey,
  identityOf,
  readBoundedSync,
  readTextBoundedSync,
} from "./bounded_read.ts";

const CAP = 1024;

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-bounded-read-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function mkfifo(path: string): void {
  const output = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

Deno.test("bounded read: a regular file is read with its identity", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.jwt");
    Deno.writeTextFileSync(path, "eyJ.a.b\n");
    const read = readBoundedSync(path, CAP);
    assert.equal(read.status, "read");
    if (read.status !== "read") return;
    assert.equal(new TextDecoder().decode(read.bytes), "eyJ.a.b\n");
    assert.deepEqual(read.identity, identityOf(Deno.statSync(path)));
  });
});

Deno.test("bounded read: special files are named and never opened", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("a FIFO (opening it for reading would block)", () => {
      const path = join(dir, "fifo.jwt");
      mkfifo(path);
      assert.deepEqual(readBoundedSync(path, CAP), {
        status: "not regular",
        kind: "FIFO",
        identity: identityOf(Deno.statSync(path)),
      });
    });
    await t.step("a unix socket", () => {
      const path = join(dir, "socket.jwt");
      const listener = Deno.listen({ transport: "unix", path });
      try {
        const read = readBoundedSync(path, CAP);
        assert.equal(read.status === "not regular" && read.kind, "socket");
      } finally {
        listener.close();
      }
    });
    await t.step("a symlink to /dev/zero (reading it never ends)", () => {
      const path = join(dir, "zero.jwt");
      Deno.symlinkSync("/dev/zero", path);
      const read = readBoundedSync(path, CAP);
      assert.equal(read.status === "not regular" && read.kind, "character device");
      assert.equal(
        read.status === "not regular" && read.identity.ino,
        Deno.statSync("/dev/zero").ino,
      );
    });
    await t.step("/dev/null", () => {
      const read = readBoundedSync("/dev/null", CAP);
      assert.equal(read.status === "not regular" && read.kind, "character device");
    });
    await t.step("a directory", () => {
      const path = join(dir, "sub.jwt");
      Deno.mkdirSync(path);
      const read = readBoundedSync(path, CAP);
      assert.equal(read.status === "not regular" && read.kind, "directory");
    });
  });
});

Deno.test("bounded read: exactly the cap is read, one byte more is too large", async () => {
  await withTempDir((dir) => {
    const exact = join(dir, "exact");
    const over = join(dir, "over");
    Deno.writeFileSync(exact, new Uint8Array(CAP).fill(0x61));
    Deno.writeFileSync(over, new Uint8Array(CAP + 1).fill(0x61));
    const read = readBoundedSync(exact, CAP);
    assert.equal(read.status === "read" && read.bytes.length, CAP);
    assert.deepEqual(readBoundedSync(over, CAP), {
      status: "too large",
      size: CAP + 1,
      identity: identityOf(Deno.statSync(over)),
    });
  });
});

Deno.test("bounded read: a missing file and a dangling link are missing", async () => {
  await withTempDir((dir) => {
    assert.deepEqual(readBoundedSync(join(dir, "nope.jwt"), CAP), { status: "missing" });
    assert.deepEqual(readBoundedSync(join(dir, "nope", "deeper.jwt"), CAP), { status: "missing" });
    Deno.symlinkSync(join(dir, "gone"), join(dir, "dangling.jwt"));
    assert.deepEqual(readBoundedSync(join(dir, "dangling.jwt"), CAP), { status: "missing" });
  });
});

Deno.test("bounded read: text is decoded exactly as Deno.readTextFileSync does", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "odd.conf");
    // A byte order mark, invalid UTF-8 and a multi-byte character.
    Deno.writeFileSync(path, new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62, 0xc3, 0xa9]));
    assert.equal(readTextBoundedSync(path, CAP), Deno.readTextFileSync(path));
  });
});

Deno.test("bounded read: the text reader throws a class per outcome", async () => {
  await withTempDir((dir) => {
    assert.throws(() => readTextBoundedSync(join(dir, "nope"), CAP), Deno.errors.NotFound);
    assert.throws(() => readTextBoundedSync(dir, CAP), Deno.errors.IsADirectory);
    const fifo = join(dir, "fifo");
    mkfifo(fifo);
    assert.throws(() => readTextBoundedSync(fifo, CAP), (error: unknown) => {
      assert.ok(error instanceof FileRejectedError);
      assert.equal(error.message, `${fifo}: a FIFO, not a regular file`);
      return true;
    });
    const big = join(dir, "big");
    Deno.writeFileSync(big, new Uint8Array(CAP + 5));
    assert.throws(
      () => readTextBoundedSync(big, CAP),
      new RegExp(
        `^FileRejectedError: ${big}: 1029 bytes, more than POT_NATS_MAX_FILE_BYTES \\(1024\\)$`,
      ),
    );
  });
});

Deno.test("file guard: a rejected file is warned about once and not looked into again", async (t) => {
  await withTempDir(async (dir) => {
    const { log, entries } = captureLog();
    const guard = new FileGuard({ maxBytes: CAP, log });
    const big = join(dir, "big.jwt");
    Deno.writeFileSync(big, new Uint8Array(CAP + 1));
    const warningsAbout = (path: string) =>
      entries.filter((e) => e.msg.startsWith(`ignoring ${path}:`)).length;

    await t.step("the same identity: the remembered rejection, no second warning", () => {
      const first = guard.read(big);
      assert.equal(first.status, "too large");
      for (let i = 0; i < 5; i++) assert.equal(guard.read(big), first);
      assert.equal(warningsAbout(big), 1);
      assert.deepEqual(entries[0], {
        time: entries[0]!.time,
        level: "warn",
        source: "pot-nats",
        msg: `ignoring ${big}: ${CAP + 1} bytes, more than POT_NATS_MAX_FILE_BYTES (${CAP})`,
        hint: "raise POT_NATS_MAX_FILE_BYTES or remove it",
      });
    });

    await t.step("a changed identity is checked again: fixed, then broken again", () => {
      Deno.writeFileSync(big, new Uint8Array(10));
      assert.equal(guard.read(big).status, "read");
      Deno.writeFileSync(big, new Uint8Array(CAP + 2));
      const again = guard.read(big);
      assert.equal(again.status === "too large" && again.size, CAP + 2);
      assert.equal(warningsAbout(big), 2);
    });

    await t.step("a FIFO replaced by a regular file is read", () => {
      const path = join(dir, "fifo.jwt");
      mkfifo(path);
      assert.equal(guard.read(path).status, "not regular");
      Deno.removeSync(path);
      Deno.writeTextFileSync(path, "x");
      assert.equal(guard.read(path).status, "read");
      assert.equal(warningsAbout(path), 1);
    });

    await t.step("a directory is not warned about", () => {
      assert.throws(() => guard.readText(dir), Deno.errors.IsADirectory);
      assert.equal(warningsAbout(dir), 0);
    });
  });
});

Deno.test("file guard: a FIFO reported by the holder and then read is warned about once", async () => {
  await withTempDir((dir) => {
    const { log, entries } = captureLog();
    const guard = new FileGuard({ maxBytes: CAP, log });
    const fifo = join(dir, "fifo.conf");
    mkfifo(fifo);
    guard.report(fifo, Deno.statSync(fifo));
    guard.report(fifo, Deno.statSync(fifo));
    assert.throws(() => guard.readText(fifo), FileRejectedError);
    assert.deepEqual(entries.map((e) => [e.level, e.msg, e.hint]), [
      [
        "warn",
        `ignoring ${fifo}: a FIFO, not a regular file`,
        "remove it; pot-nats reads only regular files",
      ],
    ]);
  });
});

Deno.test("file guard: a sweep forgets what was not looked at since the previous one", async () => {
  await withTempDir((dir) => {
    const { log, entries } = captureLog();
    const guard = new FileGuard({ maxBytes: CAP, log });
    const [kept, dropped] = [join(dir, "kept"), join(dir, "dropped")];
    for (const path of [kept, dropped]) Deno.writeFileSync(path, new Uint8Array(CAP + 1));
    const regular = join(dir, "regular");
    Deno.writeTextFileSync(regular, "x");
    guard.read(kept);
    guard.read(dropped);
    guard.read(regular);
    assert.ok(guard.readAsRegular(regular));
    guard.sweep(); // both were looked at in this round: kept
    assert.ok(!guard.readAsRegular(regular));
    guard.read(kept);
    guard.sweep(); // `dropped` was not looked at since the previous sweep: forgotten
    guard.read(kept);
    guard.read(dropped);
    assert.equal(entries.filter((e) => e.msg.includes(kept)).length, 1);
    assert.equal(entries.filter((e) => e.msg.includes(dropped)).length, 2);
  });
});

Deno.test("file guard: forgetRegular forgets the regular files read, not the rejections", async () => {
  await withTempDir((dir) => {
    const { log, entries } = captureLog();
    const guard = new FileGuard({ maxBytes: CAP, log });
    const [big, regular, resolverFile] = ["big", "regular", "resolver"].map((name) =>
      join(dir, name)
    ) as [string, string, string];
    Deno.writeFileSync(big, new Uint8Array(CAP + 1));
    Deno.writeTextFileSync(regular, "x");
    Deno.writeTextFileSync(resolverFile, "x");
    guard.read(big);
    guard.read(regular);
    guard.read(resolverFile, { noteRegular: false });
    assert.ok(guard.readAsRegular(regular));
    assert.ok(!guard.readAsRegular(resolverFile), "noteRegular: false");
    guard.forgetRegular();
    assert.ok(!guard.readAsRegular(regular));
    guard.read(big);
    assert.equal(entries.filter((e) => e.msg.includes(big)).length, 1, "still said once");
  });
});

Deno.test("file guard: the identity key changes with each of its parts", () => {
  const base = { dev: 1, ino: 2, size: 3, mtimeMs: 4, ctimeMs: 5 };
  const keys = new Set([
    identityKey(base),
    ...(["dev", "ino", "size", "mtimeMs", "ctimeMs"] as const).map((part) =>
      identityKey({ ...base, [part]: 99 })
    ),
  ]);
  assert.equal(keys.size, 6);
});

Deno.test("file guard: a path leading to a file read as regular counts as read", async () => {
  await withTempDir((dir) => {
    const guard = new FileGuard({ maxBytes: CAP });
    const [regular, large] = [join(dir, "regular"), join(dir, "large")];
    Deno.writeTextFileSync(regular, "x");
    Deno.writeFileSync(large, new Uint8Array(CAP + 1));
    guard.read(regular);
    guard.read(large);
    guard.noteReadAs(join(dir, "link"), regular);
    guard.noteReadAs(join(dir, "link-to-large"), large);
    guard.noteReadAs(join(dir, "link-to-unread"), join(dir, "unread"));
    assert.ok(guard.readAsRegular(join(dir, "link")));
    assert.ok(!guard.readAsRegular(join(dir, "link-to-large")), "refused, not read");
    assert.ok(!guard.readAsRegular(join(dir, "link-to-unread")));
    guard.sweep();
    assert.ok(!guard.readAsRegular(join(dir, "link")), "until the sweep");
  });
});
