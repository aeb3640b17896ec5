import assert from "node:assert/strict";
import { createAccount, createOperator } from "@nats-io/nkeys";
import { verifyNkeySignature } from "./ed25519.ts";

Deno.test("native ed25519 agrees with nkeys on good and bad signatures", () => {
  for (const kp of [createOperator(), createAccount()]) {
    const data = new TextEncoder().encode(`header.payload for ${kp.getPublicKey()}`);
    const signature = kp.sign(data);
    assert.equal(verifyNkeySignature(kp.getPublicKey(), data, signature), true);
    const tampered = signature.slice();
    tampered[0] = tampered[0]! ^ 1;
    assert.equal(verifyNkeySignature(kp.getPublicKey(), data, tampered), false);
    assert.equal(verifyNkeySignature(kp.getPublicKey(), new Uint8Array([1]), signature), false);
    assert.equal(verifyNkeySignature(createAccount().getPublicKey(), data, signature), false);
  }
});

Deno.test("a malformed public key never verifies and never throws", () => {
  const kp = createAccount();
  const data = new Uint8Array([1, 2, 3]);
  const signature = kp.sign(data);
  const key = kp.getPublicKey();
  for (const bad of ["", "A", key.slice(0, -1) + (key.endsWith("A") ? "B" : "A"), "a".repeat(56)]) {
    assert.equal(verifyNkeySignature(bad, data, signature), false);
  }
});
