import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { CheckCache } from "./check_cache.ts";
import type { MountEntry } from "./plan.ts";

const pub = createAccount().getPublicKey();
const name = `${pub}.jwt`;
const valid: MountEntry = {
  name,
  check: { ok: true, jwt: "jwt-text", claims: { sub: pub, iss: "OISSUER", iat: 1_700_000_000 } },
  digest: "jwt-digest",
};

Deno.test("CheckCache keeps a verdict by content digest, not the document", async (t) => {
  await t.step("a valid JWT: found again by the file's digest, without its text", () => {
    const cache = new CheckCache();
    cache.useTrust("trust");
    cache.store(valid, "file-digest");
    assert.deepEqual(cache.lookup(name, "file-digest"), {
      name,
      check: { ok: true, claims: { sub: pub, iss: "OISSUER", iat: 1_700_000_000 } },
      digest: "jwt-digest",
    });
    assert.equal(cache.validDigest(name, "file-digest"), "jwt-digest");
    assert.equal(cache.rejected(name, "file-digest"), false);
    assert.equal(cache.lookup(name, "other-digest"), undefined, "other content: checked again");
  });

  await t.step("given the file's text, the entry carries the trimmed JWT", () => {
    const cache = new CheckCache();
    cache.store(valid, "file-digest");
    const entry = cache.lookup(name, "file-digest", "jwt-text\r\n");
    assert.ok(entry?.check.ok);
    assert.equal(entry.check.jwt, "jwt-text");
  });

  await t.step("a rejection is kept with its reason", () => {
    const cache = new CheckCache();
    cache.store({ name, check: { ok: false, reason: "bad signature" } }, "file-digest");
    assert.deepEqual(cache.lookup(name, "file-digest"), {
      name,
      check: { ok: false, reason: "bad signature" },
      digest: "file-digest",
    });
    assert.equal(cache.rejected(name, "file-digest"), true);
    assert.equal(cache.validDigest(name, "file-digest"), undefined);
  });

  await t.step("a verdict that depends on the clock is not kept", () => {
    const cache = new CheckCache();
    cache.store(valid, "file-digest");
    const expiring = { ...valid, check: { ...valid.check, timeDependent: true } } as MountEntry;
    cache.store(expiring, "file-digest-2");
    assert.equal(cache.lookup(name, "file-digest-2"), undefined);
    assert.equal(cache.lookup(name, "file-digest"), undefined, "nor the one before it");
  });

  await t.step("a new trust forgets every verdict; files gone from the mount are forgotten", () => {
    const cache = new CheckCache();
    cache.useTrust("trust-1");
    cache.store(valid, "file-digest");
    cache.useTrust("trust-1");
    assert.ok(cache.lookup(name, "file-digest"), "the same trust keeps them");
    cache.useTrust("trust-2");
    assert.equal(cache.lookup(name, "file-digest"), undefined);
    cache.store(valid, "file-digest");
    cache.keepOnly(new Set(["other.jwt"]));
    assert.equal(cache.lookup(name, "file-digest"), undefined);
  });
});
