import assert from "node:assert/strict";
import { checkCreds } from "./creds.ts";
import { makeAccount, makeOperator, makeUser } from "../../dev/jwt_fixtures.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("checkCreds tells creds from what cannot be creds", async (t) => {
  const operator = await makeOperator();
  const account = await makeAccount(operator, { name: "A" });
  const user = await makeUser(account, { name: "u" });
  const exp = Math.floor(Date.now() / 1000) - 60;
  const expired = await makeUser(account, { name: "old", exp });

  await t.step("a creds file as nsc writes it", () => {
    assert.deepEqual(checkCreds(bytes(user.creds)), { ok: true });
  });
  await t.step("an expiring user JWT says when", () => {
    assert.deepEqual(checkCreds(bytes(expired.creds)), {
      ok: true,
      expiresAt: new Date(exp * 1000),
    });
  });
  const refused: [string, Uint8Array, RegExp][] = [
    ["empty", bytes(" \n"), /empty/],
    ["not text", new Uint8Array([0xff, 0xfe, 0x00]), /not text/],
    ["garbage", bytes("hello\n"), /no user JWT and seed blocks/],
    ["only the JWT block", bytes(user.creds.slice(0, user.creds.indexOf("***"))), /no user JWT/],
    ["a seed that is not a user's", bytes(user.creds.replace(user.seed, operator.seed)), /SU/],
    [
      "a first block that is not a JWT",
      bytes(user.creds.replace(user.jwt, "bm90LWEtand0")),
      /not a JWT/,
    ],
  ];
  for (const [name, content, reason] of refused) {
    await t.step(name, () => {
      const check = checkCreds(content);
      assert.equal(check.ok, false);
      if (!check.ok) assert.match(check.reason, reason);
    });
  }
});
