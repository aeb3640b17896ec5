import assert from "node:assert/strict";
import { join } from "node:path";
import { type Trust, trustFrom } from "../jwt/account_jwt.ts";
import {
  checkMountFile,
  readMount as readMountSnapshot,
  readMountFiles,
  readMountLettingGo,
  readResolverCopies,
  readResolverCopiesLettingGo,
  readResolverDir,
} from "./files.ts";
import { applyMirrorPlan, assertDistinctDirs, writeFileAtomic } from "./writes.ts";
import { FileDigests } from "../shared/file_digests.ts";
import type { MountEntry } from "./plan.ts";
import { contentDigest } from "../shared/digest.ts";
import { pollUntil } from "../../dev/poll.ts";
import { planMirror } from "./plan.ts";
import {
  type FixtureAccount,
  makeAccount,
  makeOperator,
  makeSystemAccount,
} from "../../dev/jwt_fixtures.ts";

/** The mount as a pass sees it: its files read, then each checked ([] when the dir is absent). */
function readMount(mountDir: string, trust: Trust, options: { now?: number } = {}): MountEntry[] {
  return (readMountFiles(mountDir) ?? []).map((file) => checkMountFile(file, trust, options));
}

/**
 * Lays out a mount the way kubelet's atomic writer does: the files in a timestamped dir,
 * `..data -> <that dir>`, and visible `name -> ..data/name` symlinks. Calling it again on the same
 * dir performs kubelet's update: new dir, `..data` swapped by rename, stale links and dir removed.
 */
async function writeKubeletMount(
  mountDir: string,
  files: Record<string, string>,
  timestamp: string,
): Promise<void> {
  const dataDir = `..${timestamp}`;
  await Deno.mkdir(join(mountDir, dataDir), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeTextFile(join(mountDir, dataDir, name), content);
  }
  let previousDataDir: string | undefined;
  try {
    previousDataDir = await Deno.readLink(join(mountDir, "..data"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.symlink(dataDir, join(mountDir, "..data_tmp"));
  await Deno.rename(join(mountDir, "..data_tmp"), join(mountDir, "..data"));
  for (const name of Object.keys(files)) {
    try {
      await Deno.symlink(join("..data", name), join(mountDir, name));
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  for await (const entry of Deno.readDir(mountDir)) {
    if (!entry.name.startsWith(".") && !(entry.name in files)) {
      await Deno.remove(join(mountDir, entry.name));
    }
  }
  if (previousDataDir !== undefined) {
    await Deno.remove(join(mountDir, previousDataDir), { recursive: true });
  }
}

async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pot_nats_mirror_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

const jwtFile = (account: FixtureAccount) => `${account.pub}.jwt`;

Deno.test("readMount", async (t) => {
  const operator = await makeOperator();
  const trust = trustFrom([operator.jwt], []);
  const a = await makeAccount(operator, { name: "A" });
  const b = await makeAccount(operator, { name: "B" });
  const c = await makeAccount(operator, { name: "C" });

  await t.step("reads a kubelet-style mount through its symlinks", async () => {
    await withTempDir(async (mountDir) => {
      await writeKubeletMount(mountDir, {
        [jwtFile(a)]: a.jwt,
        [jwtFile(b)]: `${b.jwt}\n`,
      }, "2026_11_22_10_00_00.1");
      const visible = await Deno.lstat(join(mountDir, jwtFile(a)));
      assert.ok(visible.isSymlink, "the fixture's visible files are symlinks, as kubelet's are");

      const entries = readMount(mountDir, trust);
      assert.deepEqual(entries.map((e) => e.name), [jwtFile(a), jwtFile(b)].sort());
      for (const entry of entries) {
        assert.ok(entry.check.ok, `${entry.name} is valid`);
        assert.equal(entry.check.jwt, entry.name === jwtFile(a) ? a.jwt : b.jwt);
      }
    });
  });

  await t.step("sees the new content after a kubelet update", async () => {
    await withTempDir(async (mountDir) => {
      await writeKubeletMount(mountDir, { [jwtFile(a)]: a.jwt, [jwtFile(b)]: b.jwt }, "1");
      const a2 = await makeAccount(operator, { name: "A2", key: a.kp });
      await writeKubeletMount(mountDir, { [jwtFile(a)]: a2.jwt, [jwtFile(c)]: c.jwt }, "2");

      const entries = readMount(mountDir, trust);
      assert.deepEqual(entries.map((e) => e.name), [jwtFile(a), jwtFile(c)].sort());
      const entryA = entries.find((e) => e.name === jwtFile(a));
      assert.ok(entryA?.check.ok);
      assert.equal(entryA.check.jwt, a2.jwt);
      assert.equal(entryA.check.claims.name, "A2");
    });
  });

  await t.step("ignores dotfiles, other names and directories", async () => {
    await withTempDir(async (mountDir) => {
      await writeKubeletMount(mountDir, { [jwtFile(a)]: a.jwt }, "1");
      await Deno.writeTextFile(join(mountDir, `.${jwtFile(b)}`), b.jwt);
      await Deno.writeTextFile(join(mountDir, `${b.pub}.txt`), b.jwt);
      await Deno.writeTextFile(join(mountDir, `${b.pub}.jwt.deleted`), b.jwt);
      await Deno.writeTextFile(join(mountDir, ".jwt"), b.jwt);
      await Deno.mkdir(join(mountDir, jwtFile(c)));
      await Deno.symlink(join(mountDir, jwtFile(c)), join(mountDir, "linked-dir.jwt"));

      const entries = readMount(mountDir, trust);
      assert.deepEqual(entries.map((e) => e.name), [jwtFile(a)]);
    });
  });

  await t.step("returns invalid files as rejected, with the reason", async () => {
    await withTempDir(async (mountDir) => {
      await Deno.writeTextFile(join(mountDir, jwtFile(a)), b.jwt);
      await Deno.writeTextFile(join(mountDir, jwtFile(b)), "not a jwt\n");
      const entries = readMount(mountDir, trust);
      assert.deepEqual(
        entries.map((e) => [e.name, e.check.ok ? "ok" : e.check.reason]),
        [
          [jwtFile(a), `sub ${b.pub} does not match the file name ${jwtFile(a)}`],
          [jwtFile(b), "not a JWT: it contains whitespace inside the token"],
        ].sort((x, y) => x[0]! < y[0]! ? -1 : 1),
      );
    });
  });

  await t.step("returns a dangling symlink as rejected, not as absent", async () => {
    await withTempDir(async (mountDir) => {
      await Deno.symlink(join("..data", jwtFile(a)), join(mountDir, jwtFile(a)));
      const entries = readMount(mountDir, trust);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]?.check.ok, false);
      assert.match(entries[0]?.check.ok ? "" : entries[0]?.check.reason ?? "", /could not be read/);
    });
  });

  await t.step("passes the injected clock to the check", async () => {
    await withTempDir(async (mountDir) => {
      const now = Date.UTC(2026, 10, 22);
      const expiring = await makeAccount(operator, { name: "E", exp: now / 1000 + 10 });
      await Deno.writeTextFile(join(mountDir, jwtFile(expiring)), expiring.jwt);
      assert.ok((readMount(mountDir, trust, { now }))[0]?.check.ok);
      const later = readMount(mountDir, trust, { now: now + 60_000 });
      assert.equal(later[0]?.check.ok, false);
    });
  });

  await t.step("returns nothing for a missing mount dir", async () => {
    await withTempDir((dir) => {
      assert.deepEqual(readMount(join(dir, "absent"), trust), []);
    });
  });
});

Deno.test("readResolverDir reads *.jwt files only", async (t) => {
  await t.step(
    "skipping tombstones, dotfiles, temp files, other names and directories",
    async () => {
      await withTempDir(async (dir) => {
        await Deno.writeTextFile(join(dir, "AAA.jwt"), "jwt-a");
        await Deno.writeTextFile(join(dir, "BBB.jwt"), "jwt-b\n");
        await Deno.writeTextFile(join(dir, "CCC.jwt.deleted"), "tombstone");
        await Deno.writeTextFile(join(dir, ".DDD.jwt.0123.tmp"), "temp");
        await Deno.writeTextFile(join(dir, ".EEE.jwt"), "hidden");
        await Deno.writeTextFile(join(dir, "notes.txt"), "text");
        await Deno.mkdir(join(dir, "FFF.jwt"));
        assert.deepEqual(
          readResolverDir(dir),
          new Map([["AAA.jwt", "jwt-a"], ["BBB.jwt", "jwt-b\n"]]),
        );
      });
    },
  );

  await t.step("returning an empty map for a missing dir", async () => {
    await withTempDir((dir) => {
      assert.deepEqual(readResolverDir(join(dir, "absent")), new Map());
    });
  });
});

Deno.test("readMountFiles keeps digests always, texts when asked", async () => {
  await withTempDir(async (mountDir) => {
    await Deno.writeTextFile(join(mountDir, "AAA.jwt"), "jwt-a");
    await Deno.writeTextFile(join(mountDir, "BBB.jwt"), "jwt-b\n");
    const files = readMountFiles(mountDir, { keepText: (name) => name === "BBB.jwt" });
    assert.deepEqual(files, [
      { name: "AAA.jwt", digest: contentDigest("jwt-a") },
      { name: "BBB.jwt", digest: contentDigest("jwt-b\n"), text: "jwt-b\n" },
    ]);
  });
});

Deno.test("readMountFiles opens only files whose identity moved since a settled read", async (t) => {
  await withTempDir(async (mountDir) => {
    await Deno.writeTextFile(join(mountDir, "AAA.jwt"), "jwt-a");
    await Deno.writeTextFile(join(mountDir, "BBB.jwt"), "jwt-b");
    // A clock ahead by more than the racy margin: every identity read is settled.
    const later = new FileDigests(() => Date.now() + 60_000);
    const pass = (digests: FileDigests, keepText = (_name: string) => false) =>
      readMountFiles(mountDir, { digests, keepText });
    const first = pass(later);

    await t.step("an unchanged mount: the same digests, no file opened", () => {
      assert.equal(later.lastReused, 0, "nothing known before the first pass");
      assert.deepEqual(pass(later), first);
      assert.equal(later.lastReused, 2);
    });

    await t.step("a file written again is read, even with its old mtime put back", async () => {
      const path = join(mountDir, "BBB.jwt");
      const { mtime, ctime } = await Deno.stat(path);
      // A write within the ctime's tick keeps it (Deno gives the ctime in whole seconds): that is
      // the racy margin's case, not this one's, so the write waits for the next second.
      const nextSecond = Math.floor(ctime!.getTime() / 1000) * 1000 + 1020;
      await pollUntil("the clock in the ctime's next second", () => Date.now() > nextSecond);
      await Deno.writeTextFile(path, "jwt-B"); // same size
      await Deno.utime(path, mtime!, mtime!); // the ctime moves all the same
      const files = pass(later);
      assert.equal(later.lastReused, 1);
      assert.deepEqual(files?.map((f) => "digest" in f && f.digest), [
        contentDigest("jwt-a"),
        contentDigest("jwt-B"),
      ]);
    });

    await t.step("an unchanged file whose text is wanted is read", () => {
      const files = pass(later, (name) => name === "AAA.jwt");
      assert.equal(later.lastReused, 1);
      assert.deepEqual(files?.[0], {
        name: "AAA.jwt",
        digest: contentDigest("jwt-a"),
        text: "jwt-a",
      });
    });

    await t.step("a file gone and back under the same name is read", async () => {
      await Deno.remove(join(mountDir, "AAA.jwt"));
      assert.equal(pass(later)?.length, 1);
      await Deno.writeTextFile(join(mountDir, "AAA.jwt"), "jwt-a");
      pass(later);
      assert.equal(later.lastReused, 1, "only BBB.jwt");
    });

    await t.step("identities younger than the racy margin are never trusted", () => {
      const now = new FileDigests();
      pass(now);
      pass(now);
      assert.equal(now.lastReused, 0, "files written this second are read on every pass");
    });
  });
});

Deno.test("the ...LettingGo readers let the event loop run during a big read", async () => {
  await withTempDir(async (dir) => {
    for (let i = 0; i < 1200; i++) Deno.writeTextFileSync(join(dir, `F${i}.jwt`), `jwt-${i}`);
    for (const read of [() => readMountLettingGo(dir), () => readResolverCopiesLettingGo(dir)]) {
      const order: string[] = [];
      // A macrotask queued before the read: it runs during the read only if the read lets go.
      setTimeout(() => order.push("other work"), 0);
      await read().then(() => order.push("read done"));
      assert.deepEqual(order, ["other work", "read done"]);
    }
    assert.equal((await readMountLettingGo(dir)).files?.length, 1200);
    assert.equal((await readResolverCopiesLettingGo(dir)).size, 1200);
  });
});

Deno.test("readResolverCopies keeps each file's digest, and its iat where it differs", async (t) => {
  const operator = await makeOperator();
  const a = await makeAccount(operator, { name: "A" });
  const b = await makeAccount(operator, { name: "B" });
  const iatOf = (jwt: string) => JSON.parse(atob(jwt.split(".")[1]!)).iat as number;

  await t.step("the whole dir, or only the names asked for (absent ones left out)", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, jwtFile(a)), a.jwt);
      await Deno.writeTextFile(join(dir, jwtFile(b)), b.jwt);
      await Deno.writeTextFile(join(dir, `${jwtFile(b)}.deleted`), b.jwt);
      const mounted = new Map([[jwtFile(a), contentDigest(a.jwt)]]);
      assert.deepEqual(
        readResolverCopies(dir, { mounted }),
        new Map([
          [jwtFile(a), { digest: contentDigest(a.jwt) }],
          [jwtFile(b), { digest: contentDigest(b.jwt), iat: iatOf(b.jwt) }],
        ]),
      );
      assert.deepEqual(
        readResolverCopies(dir, { names: [jwtFile(b), "CCC.jwt"] }),
        new Map([[jwtFile(b), { digest: contentDigest(b.jwt), iat: iatOf(b.jwt) }]]),
      );
    });
  });

  await t.step("a whole read opens only what changed or differs from the mount", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, jwtFile(a)), a.jwt);
      await Deno.writeTextFile(join(dir, jwtFile(b)), b.jwt);
      const mounted = new Map([[jwtFile(a), contentDigest(a.jwt)]]);
      const digests = new FileDigests(() => Date.now() + 60_000); // every identity settled
      const whole = () => readResolverCopies(dir, { mounted, digests });
      const first = whole();
      assert.equal(digests.lastReused, 0);
      assert.deepEqual(whole(), first);
      assert.equal(digests.lastReused, 1, "A holds the mounted JWT; B differs, its iat is read");
      // Reading some names neither uses nor renews what whole reads learned.
      readResolverCopies(dir, { mounted, digests, names: [jwtFile(b)] });
      assert.deepEqual(whole(), first);
      assert.equal(digests.lastReused, 1);
      // A copy replaced behind pot-nats' back (a new inode) is read again.
      await Deno.writeTextFile(join(dir, "tmp"), b.jwt);
      await Deno.rename(join(dir, "tmp"), join(dir, jwtFile(a)));
      const replaced = whole();
      assert.equal(digests.lastReused, 0);
      assert.deepEqual(replaced.get(jwtFile(a)), {
        digest: contentDigest(b.jwt),
        iat: iatOf(b.jwt),
      });
      // A copy removed is gone, whatever was known of it.
      await Deno.remove(join(dir, jwtFile(a)));
      assert.deepEqual([...whole().keys()], [jwtFile(b)]);
    });
  });

  await t.step("an unreadable copy (caught mid-write) has no iat", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, jwtFile(a)), "");
      assert.deepEqual(
        readResolverCopies(dir),
        new Map([[jwtFile(a), { digest: contentDigest(""), iat: undefined }]]),
      );
    });
  });
});

Deno.test("writeFileAtomic", async (t) => {
  await t.step("writes the content with mode 0600 and leaves no temp file", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "AAA.jwt");
      await writeFileAtomic(path, "first");
      assert.equal(await Deno.readTextFile(path), "first");
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.deepEqual(await listDir(dir), ["AAA.jwt"]);
    });
  });

  await t.step("replaces an existing file, also resetting its mode to 0600", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "AAA.jwt");
      await Deno.writeTextFile(path, "a much longer previous content", { mode: 0o644 });
      await Deno.chmod(path, 0o644);
      await writeFileAtomic(path, "new");
      assert.equal(await Deno.readTextFile(path), "new");
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.deepEqual(await listDir(dir), ["AAA.jwt"]);
    });
  });

  await t.step("honours another mode", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "conf");
      await writeFileAtomic(path, "x", { mode: 0o640 });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    });
  });

  await t.step("rethrows a failure and removes its temp file", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "AAA.jwt");
      await Deno.mkdir(path);
      await Deno.writeTextFile(join(path, "inside"), "keeps the dir non-empty");
      await assert.rejects(writeFileAtomic(path, "content"));
      assert.deepEqual(await listDir(dir), ["AAA.jwt"]);
      assert.ok((await Deno.stat(path)).isDirectory);
    });
  });

  await t.step("rethrows when the dir does not exist", async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        writeFileAtomic(join(dir, "absent", "AAA.jwt"), "x"),
        Deno.errors.NotFound,
      );
    });
  });

  await t.step("never shows a concurrent reader a partial or empty file", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "AAA.jwt");
      // Versions of different lengths, large enough that a torn write would be seen.
      const versions = Array.from(
        { length: 4 },
        (_, i) => `${String.fromCharCode(65 + i)}.`.repeat(20_000 + i * 7_919),
      );
      const known = new Set(versions);
      await writeFileAtomic(path, versions[0]!);

      let writing = true;
      let reads = 0;
      const unexpected: string[] = [];
      const reader = (async () => {
        while (writing) {
          const text = await Deno.readTextFile(path);
          reads++;
          if (!known.has(text)) unexpected.push(`${text.length} chars: ${text.slice(0, 20)}`);
        }
      })();
      try {
        for (let i = 1; i <= 200; i++) {
          await writeFileAtomic(path, versions[i % versions.length]!);
        }
      } finally {
        writing = false;
        await reader;
      }
      assert.deepEqual(unexpected, []);
      assert.ok(reads > 0, "the reader ran");
      assert.deepEqual(await listDir(dir), ["AAA.jwt"]);
    });
  });
});

Deno.test("applyMirrorPlan", async (t) => {
  const operator = await makeOperator();
  const trust = trustFrom([operator.jwt], []);
  const [a, b, c, orphan] = await Promise.all(
    ["A", "B", "C", "ORPHAN"].map((name) => makeAccount(operator, { name })),
  ) as [FixtureAccount, FixtureAccount, FixtureAccount, FixtureAccount];
  const sys = await makeSystemAccount(operator);

  await t.step("mirrors a mount into the resolver dir, then finds nothing to do", async () => {
    await withTempDir(async (dir) => {
      const mountDir = join(dir, "mount");
      const resolverDir = join(dir, "resolver");
      await Deno.mkdir(mountDir);
      await Deno.mkdir(resolverDir);
      await writeKubeletMount(mountDir, {
        [jwtFile(a)]: `${a.jwt}\n`,
        [jwtFile(b)]: `${b.jwt}\r\n`,
        [jwtFile(sys)]: sys.jwt,
      }, "1");
      await Deno.writeTextFile(join(resolverDir, jwtFile(orphan)), orphan.jwt);
      await Deno.writeTextFile(join(resolverDir, `${c.pub}.jwt.deleted`), c.jwt);

      const plan = planMirror(
        readMount(mountDir, trust),
        readResolverDir(resolverDir),
        {
          systemAccount: sys.pub,
        },
      );
      const result = await applyMirrorPlan(plan, resolverDir);
      assert.deepEqual(result.failed, []);
      assert.deepEqual(result.written, [jwtFile(a), jwtFile(b), jwtFile(sys)].sort());
      assert.deepEqual(result.removed, [jwtFile(orphan)]);
      assert.deepEqual(
        readResolverDir(resolverDir),
        new Map([[jwtFile(a), a.jwt], [jwtFile(b), b.jwt], [jwtFile(sys), sys.jwt]]),
      );
      assert.deepEqual(
        await listDir(resolverDir),
        [jwtFile(a), jwtFile(b), jwtFile(sys), `${c.pub}.jwt.deleted`].sort(),
      );
      for (const name of [jwtFile(a), jwtFile(b), jwtFile(sys)]) {
        assert.equal((await Deno.stat(join(resolverDir, name))).mode! & 0o777, 0o600);
      }

      const again = planMirror(
        readMount(mountDir, trust),
        readResolverDir(resolverDir),
        { systemAccount: sys.pub },
      );
      assert.deepEqual(again.write, []);
      assert.deepEqual(again.remove, []);
      assert.deepEqual(again.unchanged, [jwtFile(a), jwtFile(b), jwtFile(sys)].sort());
    });
  });

  await t.step("reports a failing write and still carries out the rest", async () => {
    await withTempDir(async (resolverDir) => {
      // A directory in place of the target fails the rename, for root too.
      await Deno.mkdir(join(resolverDir, jwtFile(b)));
      await Deno.writeTextFile(join(resolverDir, jwtFile(b), "inside"), "x");
      await Deno.writeTextFile(join(resolverDir, jwtFile(orphan)), orphan.jwt);
      const plan = planMirror(
        [a, b, c].map((account) => ({
          name: jwtFile(account),
          check: { ok: true, jwt: account.jwt, claims: { sub: account.pub, iss: "", nats: {} } },
        })),
        readResolverDir(resolverDir),
      );
      assert.equal(plan.write.length, 3);

      const result = await applyMirrorPlan(plan, resolverDir);
      assert.deepEqual(result.written, [jwtFile(a), jwtFile(c)].sort());
      assert.deepEqual(result.removed, [jwtFile(orphan)]);
      assert.equal(result.failed.length, 1);
      assert.equal(result.failed[0]?.name, jwtFile(b));
      assert.match(result.failed[0]?.error ?? "", /directory/i);
      assert.deepEqual(await listDir(resolverDir), [jwtFile(a), jwtFile(b), jwtFile(c)].sort());
    });
  });

  await t.step("counts a file that is already gone as removed", async () => {
    await withTempDir(async (resolverDir) => {
      const plan = planMirror([], new Map());
      plan.remove.push(jwtFile(orphan));
      const result = await applyMirrorPlan(plan, resolverDir);
      assert.deepEqual(result, { written: [], removed: [jwtFile(orphan)], failed: [] });
    });
  });

  await t.step("creates a missing resolver dir", async () => {
    await withTempDir(async (dir) => {
      const resolverDir = join(dir, "data", "jwt");
      const plan = planMirror([], new Map());
      plan.write.push({ name: jwtFile(a), jwt: a.jwt });
      const result = await applyMirrorPlan(plan, resolverDir);
      assert.deepEqual(result.failed, []);
      assert.equal(await Deno.readTextFile(join(resolverDir, jwtFile(a))), a.jwt);
    });
  });

  await t.step("refuses names that could leave the resolver dir", async () => {
    await withTempDir(async (dir) => {
      const resolverDir = join(dir, "resolver");
      await Deno.mkdir(resolverDir);
      await Deno.writeTextFile(join(dir, "outside.jwt"), "keep");
      const plan = planMirror([], new Map());
      plan.write.push({ name: "../escaped.jwt", jwt: "x" });
      plan.remove.push("../outside.jwt", ".hidden.jwt");
      const result = await applyMirrorPlan(plan, resolverDir);
      assert.deepEqual(result.written, []);
      assert.deepEqual(result.removed, []);
      assert.deepEqual(result.failed.map((f) => f.name), [
        "../escaped.jwt",
        "../outside.jwt",
        ".hidden.jwt",
      ]);
      assert.equal(await Deno.readTextFile(join(dir, "outside.jwt")), "keep");
      assert.deepEqual(await listDir(dir), ["outside.jwt", "resolver"]);
    });
  });
});

Deno.test("assertDistinctDirs", async (t) => {
  const refusal =
    /NATS_JWT_MOUNT_DIR .* and NATS_JWT_DIR .*Set NATS_JWT_DIR to a writable directory/s;

  await t.step("accepts two separate directories, existing or not", async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(join(dir, "mount"));
      await assertDistinctDirs(join(dir, "mount"), join(dir, "jwt"));
      await assertDistinctDirs(join(dir, "absent-mount"), join(dir, "absent-jwt"));
      await assertDistinctDirs(join(dir, "jwt"), join(dir, "jwt-2"));
      await assertDistinctDirs(join(dir, "..mount"), join(dir, "..mount-data"));
    });
  });

  await t.step("refuses the same directory, however it is spelled", async () => {
    await withTempDir(async (dir) => {
      const same = join(dir, "jwt");
      await assert.rejects(assertDistinctDirs(same, same), refusal);
      await assert.rejects(assertDistinctDirs(same, `${same}/`), /are the same directory/);
      await assert.rejects(assertDistinctDirs(same, join(dir, "x", "..", "jwt")), refusal);
      await Deno.mkdir(same);
      await assert.rejects(assertDistinctDirs(same, `${same}/.`), /are the same directory/);
    });
  });

  await t.step("refuses a directory and a symlink to it", async () => {
    await withTempDir(async (dir) => {
      const real = join(dir, "jwt");
      const link = join(dir, "mount");
      await Deno.mkdir(real);
      await Deno.symlink(real, link);
      await assert.rejects(assertDistinctDirs(link, real), /are the same directory/);
      await assert.rejects(assertDistinctDirs(real, link), /are the same directory/);
    });
  });

  await t.step("refuses paths that meet through a symlinked parent", async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(join(dir, "data"));
      await Deno.symlink(join(dir, "data"), join(dir, "alias"));
      await assert.rejects(
        assertDistinctDirs(join(dir, "alias", "jwt"), join(dir, "data", "jwt")),
        /are the same directory/,
      );
    });
  });

  await t.step("refuses one directory inside the other", async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        assertDistinctDirs(join(dir, "mount"), join(dir, "mount", "jwt")),
        /the resolver dir .* is inside the mount/,
      );
      await assert.rejects(
        assertDistinctDirs(join(dir, "jwt", "mount"), join(dir, "jwt")),
        /the mount .* is inside the resolver dir/,
      );
    });
  });
});

Deno.test("a kubelet mount is read from the version ..data points at", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-snapshot-" });
  try {
    // Mid-swap, as kubelet leaves it for a moment: ..data points at the new version, whose new
    // name has no visible link yet, and the removed name's link dangles.
    const version = "..2026_12_01_10_00_00.000000001";
    await Deno.mkdir(join(dir, version));
    await Deno.writeTextFile(join(dir, version, "kept.jwt"), "k2");
    await Deno.writeTextFile(join(dir, version, "new.jwt"), "n");
    await Deno.symlink(version, join(dir, "..data"));
    await Deno.symlink("..data/kept.jwt", join(dir, "kept.jwt"));
    await Deno.symlink("..data/removed.jwt", join(dir, "removed.jwt"));

    await t.step("the whole published version, nothing else, with its name", () => {
      const read = readMountSnapshot(dir);
      assert.deepEqual(read.files, [
        { name: "kept.jwt", digest: contentDigest("k2"), text: "k2" },
        { name: "new.jwt", digest: contentDigest("n"), text: "n" },
      ]);
      assert.equal(read.version, version);
    });

    await t.step("a ..data that is not a plain ..name link reads the visible names", async () => {
      for (const target of ["/etc", "../elsewhere", "plain"]) {
        await Deno.remove(join(dir, "..data"));
        await Deno.symlink(target, join(dir, "..data"));
        const read = readMountSnapshot(dir);
        assert.equal(read.version, undefined, target);
        assert.deepEqual(read.files?.map((f) => f.name), ["kept.jwt", "removed.jwt"], target);
      }
    });

    await t.step("a version removed before it was listed reads the visible names", async () => {
      await Deno.remove(join(dir, "..data"));
      await Deno.symlink("..2026_gone", join(dir, "..data"));
      const read = readMountSnapshot(dir);
      assert.equal(read.version, "..2026_gone", "the caller sees the version change");
      assert.deepEqual(read.files?.map((f) => f.name), ["kept.jwt", "removed.jwt"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
