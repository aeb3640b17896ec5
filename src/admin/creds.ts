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

import { DEFAULT_MAX_FILE_BYTES, readBytesBoundedSync } from "../shared/bounded_read.ts";
import { base64UrlDecode } from "../jwt/encoding.ts";
import { pause } from "../shared/timing.ts";

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

/** Whether two reads of the creds file hold the same bytes. */
export function sameCreds(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/**
 * Reads the creds every `pollMs` until they differ from `seen` (undefined: they could not be
 * read), for at most `maxWaitMs`, or until `signal` aborts.
 */
export async function waitForCredsChange(
  seen: Uint8Array | undefined,
  options: { read: () => Uint8Array; pollMs: number; maxWaitMs: number; signal: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.maxWaitMs;
  while (!options.signal.aborted && Date.now() < deadline) {
    await pause(Math.min(options.pollMs, Math.max(0, deadline - Date.now())), options.signal);
    let now: Uint8Array | undefined;
    try {
      now = options.read();
    } catch {
      now = undefined; // unreadable: a change only if it was readable before
    }
    if (now === undefined ? seen !== undefined : seen === undefined || !sameCreds(now, seen)) {
      return;
    }
  }
}

/**
 * Reads the creds every `pollMs` while a connection made with `creds` is up (until `until`
 * settles or `signal` aborts).
 * @returns true as soon as the file holds other (readable) creds; false when the wait ended first.
 *   A file that cannot be read is reported to `onUnreadable` and keeps the working connection.
 */
export async function credsRotated(
  creds: Uint8Array,
  options: {
    read: () => Uint8Array;
    pollMs: number;
    until: Promise<unknown>;
    signal: AbortSignal;
    onUnreadable: (error: unknown) => void;
  },
): Promise<boolean> {
  let ended = false;
  options.until.then(() => ended = true, () => ended = true);
  while (!ended && !options.signal.aborted) {
    await Promise.race([pause(options.pollMs, options.signal), options.until]);
    if (ended || options.signal.aborted) return false;
    try {
      if (!sameCreds(options.read(), creds)) return true;
    } catch (error) {
      options.onUnreadable(error);
    }
  }
  return false;
}
