/**
 * The admin connection's creds file (`NATS_SYS_USER_CRED_PATH`): reading it, and telling whether
 * its text can be creds at all before a connection is tried with it.
 *
 * A `.creds` file holds two blocks between `-----BEGIN ...-----` / `------END ...------` lines: a
 * user JWT, then the user's nkey seed (`SU...`). nats.js reports a file without them only as
 * "unable to parse credentials"; this says what is missing, and when the user JWT has expired.
 *
 * @module
 */

import { DEFAULT_MAX_FILE_BYTES, readBytesBoundedSync } from "./bounded_read.ts";
import { base64UrlDecode } from "./encoding.ts";

/**
 * Reads the creds file: only a regular file, at most `DEFAULT_MAX_FILE_BYTES` unless `read` (e.g. a
 * {@linkcode FileGuard}'s `readBytes`) is given.
 * @returns its bytes
 * @throws the file system's error (missing, unreadable), or a `FileRejectedError`
 */
export function readCredsFile(
  path: string,
  read?: (path: string) => Uint8Array,
): Uint8Array {
  return read ? read(path) : readBytesBoundedSync(path, DEFAULT_MAX_FILE_BYTES);
}

/** What the text of a creds file is: usable (with its user JWT's expiry), or why not. */
export type CredsCheck =
  | { ok: true; expiresAt?: Date }
  | { ok: false; reason: string };

/** The same blocks nats.js's `credsAuthenticator` looks for. */
const BLOCK = /\s*(?:(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}(?:\r?\n|$)))/g;

/** Checks that `bytes` hold a user JWT and a user seed, as nats.js will read them. */
export function checkCreds(bytes: Uint8Array): CredsCheck {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: "the file is not text" };
  }
  if (text.trim() === "") return { ok: false, reason: "the file is empty" };
  const blocks = [...text.matchAll(BLOCK)].map((match) => match[1]!);
  if (blocks.length < 2) {
    return {
      ok: false,
      reason: "it holds no user JWT and seed blocks (a .creds file as nsc writes it has both)",
    };
  }
  const [jwt, seed] = blocks as [string, string];
  if (!seed.startsWith("SU")) {
    return { ok: false, reason: "its second block is not a user seed (SU...)" };
  }
  const payload = jwt.split(".")[1];
  const bytesOfClaims = payload === undefined ? undefined : base64UrlDecode(payload);
  let claims: unknown;
  try {
    claims = bytesOfClaims && JSON.parse(new TextDecoder().decode(bytesOfClaims));
  } catch {
    claims = undefined;
  }
  if (typeof claims !== "object" || claims === null) {
    return { ok: false, reason: "its first block is not a JWT" };
  }
  const exp = (claims as { exp?: unknown }).exp;
  return typeof exp === "number" && exp > 0 ? { ok: true, expiresAt: new Date(exp * 1000) } : {
    ok: true,
  };
}
