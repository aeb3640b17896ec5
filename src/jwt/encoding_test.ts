import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { base32Decode, base32Encode, base64UrlDecode, base64UrlEncode } from "./encoding.ts";

Deno.test("base32 round-trips and reads real nkeys", () => {
  for (const length of [0, 1, 5, 32, 35]) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
  const key = createAccount().getPublicKey();
  assert.equal(base32Encode(base32Decode(key)), key);
  assert.throws(() => base32Decode("a1"), TypeError);
});

Deno.test("base64url round-trips, rejects malformed input", () => {
  const bytes = crypto.getRandomValues(new Uint8Array(64));
  assert.deepEqual(base64UrlDecode(base64UrlEncode(bytes)), bytes);
  assert.equal(base64UrlEncode('{"a":1}'), "eyJhIjoxfQ");
  assert.equal(base64UrlDecode("a+b"), undefined, "base64, not base64url");
  assert.equal(base64UrlDecode("abcde"), undefined, "an impossible length");
});
