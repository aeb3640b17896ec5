import assert from "node:assert/strict";
import { join } from "node:path";
import { hasJetStreamData } from "./jetstream_data.ts";

Deno.test("an account has JetStream data only while a file lies below its directory", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const account = join(dir, "ACCOUNT");
    await t.step("missing directory: no data", async () => {
      assert.equal(await hasJetStreamData(account), false);
    });
    await t.step("only empty directories (what a cluster purge leaves): no data", async () => {
      await Deno.mkdir(join(account, "streams", "GONE"), { recursive: true });
      assert.equal(await hasJetStreamData(account), false);
    });
    await t.step("a file anywhere below: data", async () => {
      await Deno.writeTextFile(join(account, "streams", "GONE", "meta.inf"), "{}");
      assert.equal(await hasJetStreamData(account), true);
    });
    await t.step("a symlink counts as an entry, and is not followed", async () => {
      await Deno.remove(join(account, "streams", "GONE", "meta.inf"));
      await Deno.symlink("/nonexistent", join(account, "streams", "link"));
      assert.equal(await hasJetStreamData(account), true);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
