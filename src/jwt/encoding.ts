/**
 * The two encodings nkeys and JWTs are made of: RFC 4648 base32 without padding (nkey public keys
 * and seeds, JWT ids) and base64url (JWT parts). One implementation each, for runtime and tests.
 */

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding. */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes RFC 4648 base32 without padding.
 * @throws {TypeError} for a character outside the alphabet.
 */
export function base32Decode(text: string): Uint8Array {
  const bytes = base32DecodeOrUndefined(text);
  if (bytes === undefined) {
    const char = [...text].find((c) => !BASE32_ALPHABET.includes(c));
    throw new TypeError(`not base32: ${char}`);
  }
  return bytes;
}

/** The digit of each base32 character code (-1: not in the alphabet). */
const BASE32_DIGITS = (() => {
  const digits = new Int8Array(128).fill(-1);
  for (let i = 0; i < BASE32_ALPHABET.length; i++) digits[BASE32_ALPHABET.charCodeAt(i)] = i;
  return digits;
})();

/** Like {@linkcode base32Decode}, without throwing: undefined for a character outside it. */
export function base32DecodeOrUndefined(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = BASE32_DIGITS[text.charCodeAt(i)] ?? -1;
    if (digit < 0) return undefined;
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[index++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[byte] = crc & 0xffff;
  }
  return table;
})();

/** CRC-16/XMODEM of `bytes`, the checksum at the end of every nkey. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc;
}

/** base64url without padding, of bytes or of a string's UTF-8. */
export function base64UrlEncode(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}

/** Strict base64url (optional padding, as Go's jwt library tolerates); undefined when invalid. */
export function base64UrlDecode(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, "");
  if (unpadded.length % 4 === 1) return undefined;
  const base64 = unpadded.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** base32 of 1 prefix byte + 32 key bytes + 2 CRC bytes. */
const PUBLIC_KEY_LENGTH = 56;

/** The nkeys prefix bytes of the account and operator roles. */
export const ACCOUNT_PREFIX_BYTE = 0;
export const OPERATOR_PREFIX_BYTE = 14 << 3;

/** The prefix bytes of the public nkey roles: account, cluster, server, operator, user, curve. */
const PUBLIC_PREFIX_BYTES = new Set([
  ACCOUNT_PREFIX_BYTE,
  2 << 3,
  13 << 3,
  OPERATOR_PREFIX_BYTE,
  20 << 3,
  23 << 3,
]);

/** A public nkey's 35 bytes, checked for length, alphabet and CRC; else what is wrong. */
export function decodePublicKey(key: string): Uint8Array | string {
  if (key.length !== PUBLIC_KEY_LENGTH) return `not ${PUBLIC_KEY_LENGTH} characters`;
  // 56 characters are 280 bits: one prefix byte, the 32-byte key, the CRC (little-endian).
  const raw = base32DecodeOrUndefined(key);
  if (raw === undefined) return "not base32";
  if (crc16(raw.subarray(0, 33)) !== (raw[33]! | (raw[34]! << 8))) return "bad checksum";
  return PUBLIC_PREFIX_BYTES.has(raw[0]!) ? raw : "not a public key";
}

/**
 * What is wrong with `key` as a public nkey of any role (nkeys' `fromPublic` checks, without
 * loading nkeys: that library takes ~85 ms to load, before nats-server can start).
 * @returns undefined for a well-formed public key, else why not
 */
export function publicKeyProblem(key: string): string | undefined {
  const raw = decodePublicKey(key);
  return typeof raw === "string" ? raw : undefined;
}
