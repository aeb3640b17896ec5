import assert from "node:assert/strict";
import { checkAccountJwt, isAccountPublicKey, trustFrom } from "../src/jwt/account_jwt.ts";
import { makeAccounts } from "./bulk_jwt.ts";
import { makeOperator } from "./jwt_fixtures.ts";

Deno.test("bulk account JWTs are valid account keys that pass the supervisor's own check", async () => {
  const operator = await makeOperator();
  const accounts = await makeAccounts(operator, 50);
  const trust = trustFrom([operator.jwt], []);
  assert.equal(new Set(accounts.map((a) => a.pub)).size, 50);
  for (const account of accounts) {
    assert.ok(isAccountPublicKey(account.pub), account.pub);
    const check = checkAccountJwt(account.jwt, account.pub, trust);
    assert.ok(check.ok, check.ok ? "" : check.reason);
  }
});
