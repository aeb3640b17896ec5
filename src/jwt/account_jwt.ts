/**
 * Checks account JWTs before they are mirrored into the resolver dir or pushed to the server.
 *
 * nats-server accepts (and writes to disk) an account JWT signed by an unknown operator and only
 * breaks the account at its next restart, so the supervisor verifies every JWT itself: it decodes,
 * its signature verifies with the issuer's key, it is an account JWT, its subject matches the file
 * name, and it is issued by the trusted operator or one of the operator's signing keys.
 *
 * @module
 */

import { isoFromSeconds } from "../shared/iso_time.ts";
import { verifyNkeySignature } from "./ed25519.ts";
import {
  ACCOUNT_PREFIX_BYTE,
  base64UrlDecode,
  decodePublicKey,
  OPERATOR_PREFIX_BYTE,
  publicKeyProblem,
} from "./encoding.ts";
import { quote, show } from "../shared/log.ts";
import { isRecord } from "../shared/errors.ts";

/** The keys an account JWT may be issued by. */
export interface Trust {
  /** Operator identity keys (`O...`). */
  operatorKeys: ReadonlySet<string>;
  /** Operator signing keys (`O...`) listed in the trusted operator JWTs. */
  signingKeys: ReadonlySet<string>;
}

/** The claims of a checked account JWT, as far as the supervisor reads them. */
export interface AccountClaims {
  sub: string;
  iss: string;
  name?: string;
  iat?: number;
  /** When it expires (seconds since the epoch), if it does. */
  exp?: number;
  nats: Record<string, unknown> & { signing_keys?: unknown; limits?: unknown };
}

/** The outcome of {@linkcode checkAccountJwt}: the trimmed JWT and its claims, or why it was refused. */
export type AccountCheck =
  | { ok: true; jwt: string; claims: AccountClaims; timeDependent?: boolean }
  | { ok: false; reason: string; timeDependent?: boolean };

/** JWT header algorithms: v2 signs `header.payload`, v1 signs only the payload. */
const ALG_V2 = "ed25519-nkey";
const ALG_V1 = "ed25519";

/** True for a syntactically valid account public key (`A` prefix, decodes with a valid CRC). */
export function isAccountPublicKey(name: string): boolean {
  return isPublicKey(name, "A");
}

/** True for a syntactically valid operator public key (`O` prefix, decodes with a valid CRC). */
export function isOperatorPublicKey(name: string): boolean {
  return isPublicKey(name, "O");
}

/** The nkeys prefix byte of each role: its first five bits are the key's first character. */
const PREFIX_BYTE = { A: ACCOUNT_PREFIX_BYTE, O: OPERATOR_PREFIX_BYTE } as const;

/**
 * The checks of nkeys' `fromPublic` (the base32 alphabet, the CRC, a public-key role) for a key of
 * one role, without its allocations and exceptions: ~0.3 µs a key instead of 6.7 µs, which the
 * mirror's plan paid for every file of the resolver dir (67 ms a pass with 10,000 accounts). The
 * role's prefix byte is the only public one whose base32 starts with that character, so checking
 * the byte is checking the role. `account_jwt_test.ts` checks it against `fromPublic`.
 */
function isPublicKey(name: string, prefix: "A" | "O"): boolean {
  if (!name.startsWith(prefix)) return false;
  const raw = decodePublicKey(name);
  return typeof raw !== "string" && raw[0] === PREFIX_BYTE[prefix];
}

/**
 * Builds the trust from operator JWTs (raw JWT strings, or the decorated `-----BEGIN ...` form that
 * nats-server also reads) and plain trusted operator keys (the server's `trusted_keys`).
 *
 * Each operator JWT must decode, be self-signed by a valid operator key and verify; its `sub` goes to
 * `operatorKeys` and its `nats.signing_keys` (strings, or objects with a `key` field) to
 * `signingKeys`.
 *
 * @returns the keys account JWTs may be issued by
 * @throws {Error} naming the operator JWT (by position) or key and what is wrong with it
 */
export function trustFrom(operatorJwts: string[], trustedKeys: string[]): Trust {
  const operatorKeys = new Set<string>();
  const signingKeys = new Set<string>();
  operatorJwts.forEach((text, index) => {
    const label = `operator JWT ${index + 1} of ${operatorJwts.length}`;
    const decoded = decodeJwt(undecorate(text));
    if (!decoded.ok) throw new Error(`${label} is invalid: ${decoded.reason}`);
    const { claims } = decoded;
    const type = claimType(decoded);
    if (type !== "operator") {
      throw new Error(`${label} is invalid: its type is ${quote(type)}, not "operator"`);
    }
    if (claims.iss !== claims.sub) {
      const [issuer, subject] = [show(claims.iss), show(claims.sub)];
      throw new Error(
        `${label} is invalid: it must be self-signed, but issuer ${issuer} differs from subject ${subject}`,
      );
    }
    if (!isOperatorPublicKey(claims.sub)) {
      throw new Error(
        `${label} is invalid: subject ${show(claims.sub)} is not an operator public key`,
      );
    }
    operatorKeys.add(claims.sub);
    const listed = claims.nats.signing_keys ?? [];
    if (!Array.isArray(listed)) {
      throw new Error(`${label} is invalid: nats.signing_keys is not a list`);
    }
    for (const entry of listed) {
      const key = typeof entry === "string" ? entry : isRecord(entry) ? entry.key : undefined;
      if (typeof key !== "string" || !isOperatorPublicKey(key)) {
        const shown = quote(key ?? entry);
        throw new Error(`${label} is invalid: signing key ${shown} is not an operator public key`);
      }
      signingKeys.add(key);
    }
  });
  for (const key of trustedKeys) {
    if (!isOperatorPublicKey(key)) {
      throw new Error(`trusted key ${quote(key)} is not an operator public key (O...)`);
    }
    operatorKeys.add(key);
  }
  return { operatorKeys, signingKeys };
}

/**
 * The system account an operator JWT names (`nats.system_account`), which nats-server uses when
 * its config has no `system_account` and trusts exactly one operator.
 * @returns the account public key, or undefined when the JWT does not verify or names none
 */
export function operatorSystemAccount(operatorJwt: string): string | undefined {
  const decoded = decodeJwt(undecorate(operatorJwt));
  if (!decoded.ok) return undefined;
  const system = decoded.claims.nats.system_account;
  return typeof system === "string" && isAccountPublicKey(system) ? system : undefined;
}

/**
 * Checks the text of a mounted account JWT file.
 *
 * Whitespace around the token (a trailing newline, CRLF) is trimmed; the returned `jwt` is the
 * trimmed token, which is what gets mirrored and pushed. `expectedSub` is the file name without
 * `.jwt`. `options.now` is the current time in milliseconds since the epoch (default `Date.now()`).
 *
 * @returns `{ok: true, jwt, claims}`, or `{ok: false, reason}` with a reason an operator can act on;
 * never throws
 */
export function checkAccountJwt(
  text: string,
  expectedSub: string,
  trust: Trust,
  options: { now?: number } = {},
): AccountCheck {
  const jwt = text.trim();
  const decoded = decodeJwt(jwt);
  if (!decoded.ok) return decoded;
  const { claims } = decoded;

  const type = claimType(decoded);
  if (type !== "account") {
    return {
      ok: false,
      reason: `not an account JWT: its type is ${quote(type)}, not "account"`,
    };
  }
  if (claims.sub !== expectedSub) {
    return {
      ok: false,
      reason: `sub ${show(claims.sub)} does not match the file name ${show(`${expectedSub}.jwt`)}`,
    };
  }
  if (!isAccountPublicKey(claims.sub)) {
    return { ok: false, reason: `sub ${show(claims.sub)} is not an account public key (A...)` };
  }
  if (!trust.operatorKeys.has(claims.iss) && !trust.signingKeys.has(claims.iss)) {
    return {
      ok: false,
      reason: `issuer ${show(claims.iss)} is not the trusted operator or one of its signing keys`,
    };
  }

  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const exp = claims.exp;
  const nbf = claims.nbf;
  // The verdict of a JWT with a validity window changes with time alone: callers must not cache it.
  const timeDependent = Boolean(exp) || Boolean(nbf);
  if (exp !== undefined && exp !== 0 && nowSeconds > exp) {
    return { ok: false, reason: `expired at ${isoFromSeconds(exp)}`, timeDependent };
  }
  if (nbf !== undefined && nbf !== 0 && nowSeconds < nbf) {
    return { ok: false, reason: `not valid before ${isoFromSeconds(nbf)}`, timeDependent };
  }

  const account: AccountClaims = { sub: claims.sub, iss: claims.iss, nats: claims.nats };
  if (claims.name !== undefined) account.name = claims.name;
  if (claims.iat !== undefined) account.iat = claims.iat;
  if (claims.exp !== undefined && claims.exp !== 0) account.exp = claims.exp;
  return timeDependent
    ? { ok: true, jwt, claims: account, timeDependent }
    : { ok: true, jwt, claims: account };
}

interface DecodedClaims {
  sub: string;
  iss: string;
  name?: string;
  iat?: number;
  exp?: number;
  nbf?: number;
  type?: unknown;
  nats: Record<string, unknown>;
}

type Decoded =
  | { ok: true; alg: typeof ALG_V1 | typeof ALG_V2; claims: DecodedClaims }
  | { ok: false; reason: string };

/** Decodes a JWT and verifies its signature with the key named in `iss`; never throws. */
function decodeJwt(jwt: string): Decoded {
  const fail = (reason: string): Decoded => ({ ok: false, reason });
  if (jwt === "") return fail("not a JWT: the file is empty");
  if (/\s/.test(jwt)) return fail("not a JWT: it contains whitespace inside the token");
  const parts = jwt.split(".");
  if (parts.length !== 3) {
    return fail(`not a JWT: expected 3 dot-separated parts, found ${parts.length}`);
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];

  const header = parseJsonPart(headerPart);
  if (!isRecord(header)) return fail("not a JWT: the header is not base64url-encoded JSON");
  if (typeof header.typ !== "string" || header.typ.toUpperCase() !== "JWT") {
    return fail(`not a JWT: header typ is ${quote(header.typ)}, not "JWT"`);
  }
  const alg = header.alg;
  if (alg !== ALG_V2 && alg !== ALG_V1) {
    return fail(
      `not a NATS JWT: header alg is ${quote(alg)}, not "${ALG_V2}" (or "${ALG_V1}")`,
    );
  }

  const payload = parseJsonPart(payloadPart);
  if (!isRecord(payload)) return fail("not a JWT: the payload is not base64url-encoded JSON");
  const { iss, sub } = payload;
  if (typeof iss !== "string" || iss === "") return fail("the JWT has no issuer (iss)");
  if (typeof sub !== "string" || sub === "") return fail("the JWT has no subject (sub)");
  const nats = payload.nats ?? {};
  if (!isRecord(nats)) return fail("the JWT's nats claim is not an object");
  for (const field of ["iat", "exp", "nbf"] as const) {
    if (payload[field] !== undefined && typeof payload[field] !== "number") {
      return fail(`the JWT's ${field} is not a number: ${quote(payload[field])}`);
    }
  }

  const signature = base64UrlDecode(signaturePart);
  if (signature === undefined) return fail("not a JWT: the signature is not base64url");
  const signed = alg === ALG_V2 ? `${headerPart}.${payloadPart}` : payloadPart;
  const keyProblem = publicKeyProblem(iss);
  if (keyProblem !== undefined) {
    return fail(`issuer ${show(iss)} is not a valid public key (${keyProblem})`);
  }
  if (!verifyNkeySignature(iss, new TextEncoder().encode(signed), signature)) {
    return fail(`signature does not verify with issuer ${show(iss)}`);
  }

  const claims: DecodedClaims = { iss, sub, nats, type: payload.type };
  if (typeof payload.name === "string") claims.name = payload.name;
  if (typeof payload.iat === "number") claims.iat = payload.iat;
  if (typeof payload.exp === "number") claims.exp = payload.exp;
  if (typeof payload.nbf === "number") claims.nbf = payload.nbf;
  return { ok: true, alg, claims };
}

/** v2 JWTs carry their type in `nats.type`; v1 JWTs at the top level. */
function claimType(decoded: Extract<Decoded, { ok: true }>): unknown {
  const { claims } = decoded;
  return decoded.alg === ALG_V2 ? claims.nats.type : claims.type ?? claims.nats.type;
}

/** Extracts the token from the decorated form (`-----BEGIN NATS OPERATOR JWT-----`). */
function undecorate(text: string): string {
  if (!text.includes("-----BEGIN")) return text.trim();
  const token = text.split(/\r?\n/).map((line) => line.trim()).find((line) =>
    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_=-]+$/.test(line)
  );
  return token ?? text.trim();
}

function parseJsonPart(part: string): unknown {
  const bytes = base64UrlDecode(part);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    // Any decoding or syntax error means "not JSON"; the caller names the part.
    return undefined;
  }
}
