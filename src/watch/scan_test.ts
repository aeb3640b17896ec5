import assert from "node:assert/strict";
import { join } from "node:path";
import { kubeletVolumeSettled, scanAll } from "./scan.ts";

Deno.test("a kubelet volume counts as settled only when its visible names match ..data", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("a plain directory is always settled", async () => {
      await Deno.writeTextFile(join(dir, "a.jwt"), "x");
      assert.equal(await kubeletVolumeSettled(dir), true);
      await Deno.remove(join(dir, "a.jwt"));
    });
    const stamp = join(dir, "..2026_11_22_10_00_00.1");
    await Deno.mkdir(stamp);
    for (const name of ["a.jwt", "b.jwt"]) await Deno.writeTextFile(join(stamp, name), name);
    await Deno.symlink("..2026_11_22_10_00_00.1", join(dir, "..data"));
    await t.step("..data swapped, visible links not created yet: mid-update", async () => {
      await Deno.symlink(join("..data", "a.jwt"), join(dir, "a.jwt"));
      assert.equal(await kubeletVolumeSettled(dir), false);
    });
    await t.step("every visible link in place: settled", async () => {
      await Deno.symlink(join("..data", "b.jwt"), join(dir, "b.jwt"));
      assert.equal(await kubeletVolumeSettled(dir), true);
    });
    await t.step("a visible link left over from the previous content: mid-update", async () => {
      await Deno.symlink(join("..data", "c.jwt"), join(dir, "c.jwt"));
      assert.equal(await kubeletVolumeSettled(dir), false);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scanAll digests: what changes a cause's digest and what does not", async (t) => {
  const dir = await Deno.makeTempDir();
  const paths = {
    confPath: join(dir, "server.conf"),
    accountsPath: join(dir, "accounts.conf"),
    sslDir: join(dir, "certs"),
    jwtMountDir: join(dir, "mount"),
    credsDir: join(dir, "creds"),
  };
  try {
    await Deno.writeTextFile(paths.confPath, "port: 4222\n");
    for (const sub of [paths.sslDir, paths.credsDir, paths.jwtMountDir]) await Deno.mkdir(sub);
    await Deno.writeTextFile(join(paths.sslDir, "tls.crt"), "cert");
    const digest = async (cause: "tls" | "creds") => (await scanAll(paths, [])).digests.get(cause);

    for (const cause of ["tls", "creds"] as const) {
      const tree = cause === "tls" ? paths.sslDir : paths.credsDir;
      await t.step(
        `a FIFO in the ${cause} dir changes nothing (nats-server cannot load it)`,
        async () => {
          const before = await digest(cause);
          const fifo = join(tree, "trap.crt");
          const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
          assert.ok(made.success);
          try {
            assert.equal(await digest(cause), before);
          } finally {
            await Deno.remove(fifo);
          }
        },
      );
      await t.step(`a new regular file in the ${cause} dir changes its digest`, async () => {
        const before = await digest(cause);
        await Deno.writeTextFile(join(tree, "new.crt"), "x");
        assert.notEqual(await digest(cause), before);
      });
      // A leaf's remote creds sit in a directory of their own (a Secret projected to
      // `leafnode/hub.creds`), and so may a CA bundle.
      await t.step(`a file in a subdirectory of the ${cause} dir is covered`, async () => {
        await Deno.mkdir(join(tree, "leafnode"));
        await Deno.writeTextFile(join(tree, "leafnode", "hub.creds"), "one");
        const before = await digest(cause);
        await Deno.writeTextFile(join(tree, "leafnode", "hub.creds"), "two");
        assert.notEqual(await digest(cause), before);
        assert.ok((await scanAll(paths, [])).watchDirs.has(join(tree, "leafnode")));
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
