/**
 * Many account JWTs fast, for burst tests and the 10,000-account benchmark. `@nats-io/jwt` signs in
 * pure JavaScript (about 40 ms an account); here one template JWT made by that library is cloned
 * with a fresh random account key and re-signed natively with the operator's key (microseconds).
 * The real nats-server accepting these accounts is what keeps this honest.
 */

import { createPrivateKey, randomBytes, sign } from "node:crypto";
import {
  base32Decode,
  base32Encode,
  base64UrlDecode,
  base64UrlEncode,
} from "../src/jwt/encoding.ts";
import { type FixtureOperator, makeAccount } from "./jwt_fixtures.ts";

const ACCOUNT_PREFIX = 0; // nkeys Prefix.Account: encodes to a leading 'A'

export interface BulkAccount {
  pub: string;
  name: string;
  jwt: string;
}

/** Makes `count` account JWTs signed by `operator`, shaped exactly like `makeAccount`'s. */
export async function makeAccounts(
  operator: FixtureOperator,
  count: number,
  options: { namePrefix?: string; jetstream?: boolean } = {},
): Promise<BulkAccount[]> {
  const template = await makeAccount(operator, {
    name: "template",
    jetstream: options.jetstream ?? true,
  });
  const [headerPart, payloadPart] = template.jwt.split(".") as [string, string];
  const claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(payloadPart)!));
  const key = operatorSigningKey(operator);
  const accounts: BulkAccount[] = [];
  for (let i = 0; i < count; i++) {
    const pub = encodeAccountKey(randomBytes(32));
    const name = `${options.namePrefix ?? "bulk"}-${i}`;
    const payload = { ...claims, sub: pub, name, jti: randomJti() };
    const signed = `${headerPart}.${
      base64UrlEncode(new TextEncoder().encode(JSON.stringify(payload)))
    }`;
    const signature = sign(null, new TextEncoder().encode(signed), key);
    accounts.push({ pub, name, jwt: `${signed}.${base64UrlEncode(signature)}` });
  }
  return accounts;
}

function operatorSigningKey(operator: FixtureOperator) {
  const seed = base32Decode(operator.seed).subarray(2, 34);
  const pub = base32Decode(operator.pub).subarray(1, 33);
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: base64UrlEncode(seed), x: base64UrlEncode(pub) },
    format: "jwk",
  });
}

function encodeAccountKey(raw: Uint8Array): string {
  const body = new Uint8Array([ACCOUNT_PREFIX, ...raw]);
  const crc = crc16(body);
  return base32Encode(new Uint8Array([...body, crc & 0xff, crc >> 8]));
}

/** CRC-16/XMODEM, as nkeys uses for its checksums. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function randomJti(): string {
  return base32Encode(randomBytes(32)).slice(0, 52);
}
