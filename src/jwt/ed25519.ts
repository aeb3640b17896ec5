/**
 * Ed25519 signature checks for nkey-signed JWTs through the runtime's native crypto. nkeys' own
 * verify is pure JavaScript (about 13 ms a signature here), which would make 10,000 accounts take
 * minutes; the native path takes microseconds. Key objects are cached per public key, since the
 * issuers of a mount are few (the operator and its signing keys).
 */

import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { base64UrlEncode, decodePublicKey } from "./encoding.ts";

const keyCache = new Map<string, KeyObject>();

/**
 * Verifies `signature` over `data` with the nkey public key `publicKey` (any role).
 * @returns false for a bad signature or a malformed key; never throws.
 */
export function verifyNkeySignature(
  publicKey: string,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return verify(null, data, keyObject(publicKey), signature);
  } catch {
    return false; // a malformed key or signature is simply not a valid signature
  }
}

function keyObject(publicKey: string): KeyObject {
  let key = keyCache.get(publicKey);
  if (!key) {
    const decoded = decodePublicKey(publicKey); // the alphabet, the CRC and the role
    if (typeof decoded === "string") throw new TypeError(decoded);
    const raw = decoded.subarray(1, 33);
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: base64UrlEncode(raw) },
      format: "jwk",
    });
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(publicKey, key);
  }
  return key;
}
