import assert from "node:assert/strict";
import { join } from "node:path";
import { kubeletVolumeSettled } from "./scan.ts";

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
