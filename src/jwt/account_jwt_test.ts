import assert from "node:assert/strict";
import { createAccount, createOperator, createUser, fromPublic } from "@nats-io/nkeys";
import { encodeOperator } from "@nats-io/jwt";
import {
  type AccountCheck,
  checkAccountJwt,
  isAccountPublicKey,
  isOperatorPublicKey,
  operatorSystemAccount,
  type Trust,
  trustFrom,
} from "./account_jwt.ts";
import { base32Encode, crc16, publicKeyProblem } from "./encoding.ts";
import {
  makeAccount,
  makeOperator,
  makeSystemAccount,
  makeUser,
  signClaims,
} from "../../dev/jwt_fixtures.ts";

function reasonOf(check: AccountCheck): string {
  assert.equal(check.ok, false, "expected the JWT to be refused");
  return check.ok ? "" : check.reason;
}

/** Replaces the payload of a JWT with another one, keeping the original signature. */
function withPayload(jwt: string, mutate: (claims: Record<string, unknown>) => void): string {
  const [header, payload, signature] = jwt.split(".") as [string, string, string];
  const claims = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")));
  mutate(claims);
  const encoded = btoa(JSON.stringify(claims)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  return `${header}.${encoded}.${signature}`;
}

Deno.test("isAccountPublicKey accepts only well-formed account public keys", () => {
  const account = createAccount();
  const pub = account.getPublicKey();
  assert.equal(isAccountPublicKey(pub), true);
  assert.equal(isAccountPublicKey(createOperator().getPublicKey()), false, "operator key");
  assert.equal(isAccountPublicKey(createUser().getPublicKey()), false, "user key");
  assert.equal(isAccountPublicKey(new TextDecoder().decode(account.getSeed())), false, "seed");
  const lastChar = pub.at(-1) === "A" ? "B" : "A";
  assert.equal(isAccountPublicKey(pub.slice(0, -1) + lastChar), false, "bad checksum");
  assert.equal(isAccountPublicKey(pub.toLowerCase()), false, "lower case");
  assert.equal(isAccountPublicKey(pub.slice(0, -1)), false, "too short");
  assert.equal(isAccountPublicKey(pub + "A"), false, "too long");
  assert.equal(isAccountPublicKey(""), false, "empty");
  assert.equal(isAccountPublicKey("foo"), false, "foo");
  assert.equal(isOperatorPublicKey(createOperator().getPublicKey()), true);
  assert.equal(isOperatorPublicKey(pub), false);
});

Deno.test("isAccountPublicKey and isOperatorPublicKey agree with nkeys' fromPublic", () => {
  const nkeysSays = (name: string, prefix: string) => {
    try {
      fromPublic(name);
      return name.length === 56 && name.startsWith(prefix);
    } catch {
      return false;
    }
  };
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567a1=";
  const keys = Array.from(
    { length: 50 },
    (_, i) => (i % 2 ? createAccount() : createOperator()).getPublicKey(),
  );
  const names = [...keys];
  // Every key with one character replaced: a few stay valid (the CRC collides), most do not.
  for (const key of keys.slice(0, 10)) {
    for (let at = 0; at < key.length; at += 3) {
      const char = alphabet[(at * 7 + key.charCodeAt(at)) % alphabet.length]!;
      names.push(key.slice(0, at) + char + key.slice(at + 1));
    }
  }
  // First characters of other roles and of prefix bytes that are no role.
  for (const key of keys.slice(0, 4)) {
    for (const first of ["A", "B", "H", "N", "O", "P", "U"]) names.push(first + key.slice(1));
  }
  // A valid CRC over a prefix byte that is no public role but encodes to the same first letter.
  for (const prefix of [0, 1, 7, 112, 113, 119]) {
    const raw = new Uint8Array(35);
    raw[0] = prefix;
    raw.set(crypto.getRandomValues(new Uint8Array(32)), 1);
    const crc = crc16(raw.subarray(0, 33));
    raw[33] = crc & 0xff;
    raw[34] = crc >> 8;
    names.push(base32Encode(raw));
  }
  for (const name of names) {
    assert.equal(isAccountPublicKey(name), nkeysSays(name, "A"), `account: ${name}`);
    assert.equal(isOperatorPublicKey(name), nkeysSays(name, "O"), `operator: ${name}`);
  }
});

Deno.test("publicKeyProblem agrees with nkeys' fromPublic on keys of every role", () => {
  const keys = [createAccount(), createOperator(), createUser()].map((kp) => kp.getPublicKey());
  const names = [...keys, ...keys.map((key) => key.slice(0, 20) + "A" + key.slice(21)), "ONOTAKEY"];
  // A seed is no public key; nor is a key with its CRC or its alphabet broken.
  names.push(new TextDecoder().decode(createAccount().getSeed()).slice(0, 56));
  names.push(keys[0]!.slice(0, 55) + "1");
  for (const name of names) {
    let valid = true;
    try {
      fromPublic(name);
    } catch {
      valid = false;
    }
    assert.equal(publicKeyProblem(name) === undefined, valid, name);
  }
});

Deno.test("trustFrom", async (t) => {
  await t.step("collects the operator key and its signing keys", async () => {
    const operator = await makeOperator({ signingKey: true });
    const trust = trustFrom([operator.jwt], []);
    assert.deepEqual([...trust.operatorKeys], [operator.pub]);
    assert.deepEqual([...trust.signingKeys], [operator.signingKey!.pub]);
  });

  await t.step("reads signing keys given as objects with a key field", async () => {
    const identity = createOperator();
    const signer = createOperator();
    const jwt = await encodeOperator("OP", identity, {
      signing_keys: [{
        kind: "user_scope",
        key: signer.getPublicKey(),
        role: "r",
        template: {},
      }],
    });
    assert.deepEqual([...trustFrom([jwt], []).signingKeys], [signer.getPublicKey()]);
  });

  await t.step("adds plain trusted keys to the operator keys", async () => {
    const operator = await makeOperator();
    const extra = createOperator().getPublicKey();
    const trust = trustFrom([operator.jwt], [extra]);
    assert.deepEqual(new Set(trust.operatorKeys), new Set([operator.pub, extra]));
    assert.equal(trust.signingKeys.size, 0);
  });

  await t.step("accepts the decorated form and surrounding whitespace", async () => {
    const operator = await makeOperator();
    const decorated =
      `-----BEGIN NATS OPERATOR JWT-----\n${operator.jwt}\n------END NATS OPERATOR JWT------\n`;
    assert.deepEqual([...trustFrom([decorated], []).operatorKeys], [operator.pub]);
    assert.deepEqual([...trustFrom([`${operator.jwt}\r\n`], []).operatorKeys], [operator.pub]);
  });

  await t.step("throws naming the problem for an invalid operator JWT", async () => {
    const operator = await makeOperator();
    const account = await makeAccount(operator, { name: "A" });
    assert.throws(() => trustFrom(["garbage"], []), /operator JWT 1 of 1 is invalid: not a JWT/);
    assert.throws(
      () => trustFrom([operator.jwt, account.jwt], []),
      /operator JWT 2 of 2 is invalid: its type is "account", not "operator"/,
    );
    assert.throws(
      () => trustFrom([withPayload(operator.jwt, (c) => (c.name = "evil"))], []),
      /signature does not verify with issuer O/,
    );
    const other = createOperator();
    const notSelfSigned = await encodeOperator("OP", operator.pub, {}, { signer: other });
    assert.throws(() => trustFrom([notSelfSigned], []), /must be self-signed/);
    const badSigningKey = await encodeOperator("OP", createOperator(), {
      signing_keys: [createAccount().getPublicKey()],
    });
    assert.throws(() => trustFrom([badSigningKey], []), /is not an operator public key/);
  });

  await t.step("throws for a trusted key that is not an operator key", () => {
    const accountKey = createAccount().getPublicKey();
    assert.throws(
      () => trustFrom([], [accountKey]),
      new RegExp(`trusted key "${accountKey}" is not an operator public key`),
    );
  });
});

Deno.test("checkAccountJwt accepts", async (t) => {
  const operator = await makeOperator({ signingKey: true });
  const trust = trustFrom([operator.jwt], []);

  await t.step("an account JWT signed by the operator", async () => {
    const account = await makeAccount(operator, { name: "A" });
    const check = checkAccountJwt(account.jwt, account.pub, trust);
    assert.ok(check.ok);
    assert.equal(check.jwt, account.jwt);
    assert.equal(check.claims.sub, account.pub);
    assert.equal(check.claims.iss, operator.pub);
    assert.equal(check.claims.name, "A");
    assert.equal(typeof check.claims.iat, "number");
    assert.deepEqual(check.claims.nats.limits, {
      conn: -1,
      subs: -1,
      payload: -1,
      data: -1,
      imports: -1,
      exports: -1,
      wildcards: true,
      leaf: -1,
      mem_storage: -1,
      disk_storage: -1,
      streams: -1,
      consumer: -1,
    });
  });

  await t.step("an account JWT signed by an operator signing key", async () => {
    const account = await makeAccount(operator, { name: "A", signer: operator.signingKey!.kp });
    const check = checkAccountJwt(account.jwt, account.pub, trust);
    assert.ok(check.ok);
    assert.equal(check.claims.iss, operator.signingKey!.pub);
  });

  await t.step("a v1 (ed25519) account JWT", async () => {
    const account = await makeAccount(operator, { name: "V1", algorithm: "v1" });
    assert.ok(checkAccountJwt(account.jwt, account.pub, trust).ok);
  });

  await t.step("the system account JWT, which has no JetStream limits", async () => {
    const sys = await makeSystemAccount(operator);
    const check = checkAccountJwt(sys.jwt, sys.pub, trust);
    assert.ok(check.ok);
    assert.equal((check.claims.nats.limits as Record<string, unknown>).mem_storage, undefined);
  });

  await t.step("a file with a trailing newline or CRLF, returning the trimmed token", async () => {
    const account = await makeAccount(operator, { name: "A" });
    for (const text of [`${account.jwt}\n`, `${account.jwt}\r\n`, `  ${account.jwt}\n\n`]) {
      const check = checkAccountJwt(text, account.pub, trust);
      assert.ok(check.ok);
      assert.equal(check.jwt, account.jwt);
    }
  });

  await t.step("a JWT that expires in the future or became valid in the past", async () => {
    const now = Date.UTC(2026, 10, 22, 10, 0, 0);
    const account = await makeAccount(operator, {
      name: "A",
      exp: now / 1000 + 60,
      nbf: now / 1000 - 60,
    });
    assert.ok(checkAccountJwt(account.jwt, account.pub, trust, { now }).ok);
  });

  await t.step("a JWT issued by a key added as a plain trusted key", async () => {
    const other = createOperator();
    const account = await makeAccount(operator, { name: "A", signer: other });
    const withKey = trustFrom([operator.jwt], [other.getPublicKey()]);
    assert.ok(checkAccountJwt(account.jwt, account.pub, withKey).ok);
  });
});

Deno.test("checkAccountJwt refuses, saying why,", async (t) => {
  const operator = await makeOperator({ signingKey: true });
  const trust: Trust = trustFrom([operator.jwt], []);
  const account = await makeAccount(operator, { name: "A" });

  await t.step("text that is not a JWT", () => {
    assert.match(
      reasonOf(checkAccountJwt("", account.pub, trust)),
      /^not a JWT: the file is empty/,
    );
    assert.match(reasonOf(checkAccountJwt(" \n", account.pub, trust)), /^not a JWT: .*empty/);
    assert.match(
      reasonOf(checkAccountJwt("hello world", account.pub, trust)),
      /^not a JWT: it contains whitespace/,
    );
    assert.match(
      reasonOf(checkAccountJwt("a.b", account.pub, trust)),
      /^not a JWT: expected 3 dot-separated parts, found 2/,
    );
    assert.match(
      reasonOf(checkAccountJwt("!!.b.c", account.pub, trust)),
      /^not a JWT: the header is not base64url-encoded JSON/,
    );
    const [header, , signature] = account.jwt.split(".");
    assert.match(
      reasonOf(checkAccountJwt(`${header}.bm90IGpzb24.${signature}`, account.pub, trust)),
      /^not a JWT: the payload is not base64url-encoded JSON/,
    );
    assert.match(
      reasonOf(checkAccountJwt(`${account.jwt.slice(0, -4)}$$$$`, account.pub, trust)),
      /^not a JWT: the signature is not base64url/,
    );
    const decorated = `-----BEGIN NATS ACCOUNT JWT-----\n${account.jwt}\n------END------`;
    assert.match(reasonOf(checkAccountJwt(decorated, account.pub, trust)), /^not a JWT/);
  });

  await t.step("a header that is not a NATS JWT header", () => {
    const kp = createOperator();
    const claims = { iss: kp.getPublicKey(), sub: account.pub, nats: { type: "account" } };
    assert.match(
      reasonOf(checkAccountJwt(signClaims(claims, kp, { typ: "JWT", alg: "HS256" }), "x", trust)),
      /^not a NATS JWT: header alg is "HS256", not "ed25519-nkey"/,
    );
    assert.match(
      reasonOf(checkAccountJwt(signClaims(claims, kp, { alg: "ed25519-nkey" }), "x", trust)),
      /^not a JWT: header typ is undefined/,
    );
  });

  await t.step("a payload that was changed after signing", () => {
    const tampered = withPayload(account.jwt, (claims) => {
      (claims.nats as { limits: { conn: number } }).limits.conn = 5;
    });
    assert.equal(
      reasonOf(checkAccountJwt(tampered, account.pub, trust)),
      `signature does not verify with issuer ${operator.pub}`,
    );
  });

  await t.step("a signature replaced by another JWT's", async () => {
    const other = await makeAccount(operator, { name: "B" });
    const [header, payload] = account.jwt.split(".");
    const forged = `${header}.${payload}.${other.jwt.split(".")[2]}`;
    assert.match(
      reasonOf(checkAccountJwt(forged, account.pub, trust)),
      /signature does not verify/,
    );
  });

  await t.step("an issuer that is not a public key", () => {
    const tampered = withPayload(account.jwt, (claims) => (claims.iss = "ONOTAKEY"));
    assert.match(
      reasonOf(checkAccountJwt(tampered, account.pub, trust)),
      /^issuer ONOTAKEY is not a valid public key/,
    );
  });

  await t.step("a JWT that is not an account JWT", async () => {
    const user = await makeUser(account, { name: "u" });
    assert.equal(
      reasonOf(checkAccountJwt(user.jwt, user.pub, trust)),
      `not an account JWT: its type is "user", not "account"`,
    );
    assert.match(
      reasonOf(checkAccountJwt(operator.jwt, operator.pub, trust)),
      /its type is "operator"/,
    );
  });

  await t.step("a subject that does not match the file name", async () => {
    const other = await makeAccount(operator, { name: "B" });
    assert.equal(
      reasonOf(checkAccountJwt(account.jwt, other.pub, trust)),
      `sub ${account.pub} does not match the file name ${other.pub}.jwt`,
    );
  });

  await t.step("a subject that is not an account public key", () => {
    const userKey = createUser().getPublicKey();
    const jwt = signClaims(
      { iss: operator.pub, sub: userKey, nats: { type: "account", version: 2 } },
      operator.kp,
    );
    assert.equal(
      reasonOf(checkAccountJwt(jwt, userKey, trust)),
      `sub ${userKey} is not an account public key (A...)`,
    );
  });

  await t.step("an issuer that is not the trusted operator or its signing key", async () => {
    const stranger = await makeOperator();
    const foreign = await makeAccount(stranger, { name: "F" });
    assert.equal(
      reasonOf(checkAccountJwt(foreign.jwt, foreign.pub, trust)),
      `issuer ${stranger.pub} is not the trusted operator or one of its signing keys`,
    );
    const selfSigned = await makeAccount(operator, { name: "S", signer: createAccount() });
    assert.match(
      reasonOf(checkAccountJwt(selfSigned.jwt, selfSigned.pub, trust)),
      /is not the trusted operator or one of its signing keys/,
    );
  });

  await t.step("an expired JWT", async () => {
    const now = Date.UTC(2026, 10, 22, 10, 0, 0);
    const expired = await makeAccount(operator, { name: "E", exp: now / 1000 - 1 });
    assert.equal(
      reasonOf(checkAccountJwt(expired.jwt, expired.pub, trust, { now })),
      "expired at 2026-11-22T09:59:59.000Z",
    );
  });

  await t.step("a JWT that is not valid yet", async () => {
    const now = Date.UTC(2026, 10, 22, 10, 0, 0);
    const early = await makeAccount(operator, { name: "N", nbf: now / 1000 + 3600 });
    assert.equal(
      reasonOf(checkAccountJwt(early.jwt, early.pub, trust, { now })),
      "not valid before 2026-11-22T11:00:00.000Z",
    );
  });

  await t.step("claims of the wrong shape", () => {
    const sign = (claims: Record<string, unknown>) => signClaims(claims, operator.kp);
    const base = { iss: operator.pub, sub: account.pub, nats: { type: "account", version: 2 } };
    assert.match(reasonOf(checkAccountJwt(sign({ ...base, iss: 1 }), account.pub, trust)), /iss/);
    assert.match(reasonOf(checkAccountJwt(sign({ ...base, sub: "" }), account.pub, trust)), /sub/);
    assert.match(
      reasonOf(checkAccountJwt(sign({ ...base, nats: "account" }), account.pub, trust)),
      /nats claim is not an object/,
    );
    assert.match(
      reasonOf(checkAccountJwt(sign({ ...base, exp: "tomorrow" }), account.pub, trust)),
      /exp is not a number/,
    );
    assert.ok(checkAccountJwt(sign(base), account.pub, trust).ok, "the base case is valid");
  });
});

Deno.test("checkAccountJwt reasons show hostile claims escaped and bounded", async (t) => {
  const operator = await makeOperator();
  const trust = trustFrom([operator.jwt], []);
  const account = await makeAccount(operator, { name: "A" });
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: operator.pub,
    sub: account.pub,
    nats: { type: "account", version: 2 },
    ...extra,
  });

  await t.step("a header typ of 1 MB with a terminal sequence", () => {
    const typ = "\x1b]0;pwned\x07" + "x".repeat(1_000_000);
    const jwt = signClaims(claims(), operator.kp, { typ, alg: "ed25519-nkey" });
    const reason = reasonOf(checkAccountJwt(jwt, account.pub, trust));
    assert.equal(
      reason,
      String.raw`not a JWT: header typ is "\x1b]0;pwned\x07` +
        `${"x".repeat(184)}…(+999816 chars)", not "JWT"`,
    );
  });

  await t.step("a sub with ESC and CR that does not match the file name", () => {
    const jwt = signClaims(claims({ sub: "A\x1b[31mEVIL\rX" }), operator.kp);
    assert.equal(
      reasonOf(checkAccountJwt(jwt, account.pub, trust)),
      String.raw`sub "A\x1b[31mEVIL\rX" does not match the file name ${account.pub}.jwt`,
    );
  });

  await t.step("a file name with ESC and CR, and a sub to match it", () => {
    const name = "\x1b[2Jevil\r";
    const jwt = signClaims(claims({ sub: name }), operator.kp);
    assert.equal(
      reasonOf(checkAccountJwt(jwt, name, trust)),
      String.raw`sub "\x1b[2Jevil\r" is not an account public key (A...)`,
    );
    assert.equal(
      reasonOf(checkAccountJwt(account.jwt, name, trust)),
      String.raw`sub ${account.pub} does not match the file name "\x1b[2Jevil\r.jwt"`,
    );
  });

  await t.step("a 1 MB sub, and a 1 MB issuer with ESC", () => {
    const huge = "A".repeat(1_000_000);
    const bySub = reasonOf(
      checkAccountJwt(signClaims(claims({ sub: huge }), operator.kp), "x", trust),
    );
    assert.equal(
      bySub,
      `sub "${"A".repeat(200)}…(+999800 chars)" does not match the file name x.jwt`,
    );
    const byIssuer = reasonOf(
      checkAccountJwt(
        signClaims(claims({ iss: `\x1b${"a".repeat(1_000_000)}` }), operator.kp),
        "x",
        trust,
      ),
    );
    assert.equal(
      byIssuer,
      String.raw`issuer "\x1b` +
        `${"a".repeat(196)}…(+999804 chars)" is not a valid public key (not 56 characters)`,
    );
  });

  await t.step("a non-numeric exp of 100,000 line separators", () => {
    const jwt = signClaims(claims({ exp: "\u2028".repeat(100_000) }), operator.kp);
    assert.equal(
      reasonOf(checkAccountJwt(jwt, account.pub, trust)),
      `the JWT's exp is not a number: "${"\\u2028".repeat(33)}…(+99967 chars)"`,
    );
  });
});

Deno.test("operatorSystemAccount reads nats.system_account of a verified operator JWT", async () => {
  const identity = createOperator();
  const system = createAccount().getPublicKey();
  const jwt = await encodeOperator("OP", identity, { system_account: system });
  assert.equal(operatorSystemAccount(jwt), system);
  assert.equal(
    operatorSystemAccount(
      `-----BEGIN NATS OPERATOR JWT-----\n${jwt}\n------END NATS OPERATOR JWT------\n`,
    ),
    system,
    "nsc's decorated form",
  );
  assert.equal(operatorSystemAccount(await encodeOperator("OP", createOperator())), undefined);
  const [header, payload] = jwt.split(".");
  assert.equal(operatorSystemAccount(`${header}.${payload}.AAAA`), undefined, "a bad signature");
});
