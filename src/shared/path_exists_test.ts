import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "./path_exists.ts";

Deno.test("pathExists", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-path-exists-" });
  try {
    const file = join(dir, "file");
    await Deno.writeTextFile(file, "x");
    const dangling = join(dir, "dangling");
    await Deno.symlink(join(dir, "missing"), dangling);

    await t.step("is true for a file and a directory", async () => {
      assert.equal(await pathExists(file), true);
      assert.equal(await pathExists(dir), true);
    });

    await t.step("is false for a missing path and a path below a file", async () => {
      assert.equal(await pathExists(join(dir, "missing")), false);
      assert.equal(await pathExists(join(file, "child")), false);
      assert.equal(await pathExists(join(file, "child"), { followSymlinks: false }), false);
    });

    await t.step("follows symlinks unless told not to", async () => {
      assert.equal(await pathExists(dangling), false);
      assert.equal(await pathExists(dangling, { followSymlinks: false }), true);
    });

    await t.step("rethrows errors other than not-there", async () => {
      const loop = join(dir, "loop");
      await Deno.symlink(loop, loop);
      await assert.rejects(pathExists(loop), Deno.errors.FilesystemLoop);
      assert.equal(await pathExists(loop, { followSymlinks: false }), true);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
