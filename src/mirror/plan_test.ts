import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { checkAccountJwt, trustFrom } from "../jwt/account_jwt.ts";
import { type MirrorPlan, type MountEntry, planMirror } from "./plan.ts";
import { makeAccount, makeOperator } from "../../dev/jwt_fixtures.ts";

const OPERATOR = "OAFAKEOPERATORKEYFORPLANTESTSONLY";

function accountKey(): string {
  return createAccount().getPublicKey();
}

function valid(pub: string, jwt: string): MountEntry {
  return {
    name: `${pub}.jwt`,
    check: { ok: true, jwt, claims: { sub: pub, iss: OPERATOR, nats: {} } },
  };
}

function invalid(name: string, reason = "signature does not verify with issuer O..."): MountEntry {
  return { name, check: { ok: false, reason } };
}

function emptyPlan(): MirrorPlan {
  return {
    write: [],
    remove: [],
    unchanged: [],
    rejected: [],
    added: [],
    changed: [],
    removed: [],
    newerInResolver: [],
    repaired: [],
  };
}

Deno.test("planMirror", async (t) => {
  await t.step("writes a new account's JWT and reports it as added", () => {
    const a = accountKey();
    assert.deepEqual(planMirror([valid(a, "jwt-a")], new Map()), {
      ...emptyPlan(),
      write: [{ name: `${a}.jwt`, jwt: "jwt-a" }],
      added: [a],
    });
  });

  await t.step("rewrites a changed JWT and reports it as changed", () => {
    const a = accountKey();
    const plan = planMirror([valid(a, "jwt-a2")], new Map([[`${a}.jwt`, "jwt-a1"]]));
    assert.deepEqual(plan, {
      ...emptyPlan(),
      write: [{ name: `${a}.jwt`, jwt: "jwt-a2" }],
      changed: [a],
    });
  });

  await t.step("leaves an identical JWT alone", () => {
    const a = accountKey();
    const plan = planMirror([valid(a, "jwt-a")], new Map([[`${a}.jwt`, "jwt-a"]]));
    assert.deepEqual(plan, { ...emptyPlan(), unchanged: [`${a}.jwt`] });
  });

  await t.step("treats a mounted file with a trailing newline or CRLF as unchanged", async () => {
    const operator = await makeOperator();
    const trust = trustFrom([operator.jwt], []);
    const account = await makeAccount(operator, { name: "A" });
    const resolver = new Map([[`${account.pub}.jwt`, account.jwt]]);
    for (const text of [`${account.jwt}\n`, `${account.jwt}\r\n`]) {
      const entry = {
        name: `${account.pub}.jwt`,
        check: checkAccountJwt(text, account.pub, trust),
      };
      assert.deepEqual(planMirror([entry], resolver), {
        ...emptyPlan(),
        unchanged: [`${account.pub}.jwt`],
      });
    }
  });

  await t.step("rewrites a resolver copy that has stray whitespace", () => {
    const a = accountKey();
    const plan = planMirror([valid(a, "jwt-a")], new Map([[`${a}.jwt`, "jwt-a\n"]]));
    assert.deepEqual(plan.write, [{ name: `${a}.jwt`, jwt: "jwt-a" }]);
    assert.deepEqual(plan.changed, [a]);
  });

  await t.step("removes an account JWT that left the mount", () => {
    const a = accountKey();
    const orphan = accountKey();
    const plan = planMirror(
      [valid(a, "jwt-a")],
      new Map([[`${a}.jwt`, "jwt-a"], [`${orphan}.jwt`, "jwt-orphan"]]),
    );
    assert.deepEqual(plan, {
      ...emptyPlan(),
      unchanged: [`${a}.jwt`],
      remove: [`${orphan}.jwt`],
      removed: [orphan],
    });
  });

  await t.step("never removes the system account's JWT", () => {
    const a = accountKey();
    const sys = accountKey();
    const orphan = accountKey();
    const resolver = new Map([[`${sys}.jwt`, "jwt-sys"], [`${orphan}.jwt`, "jwt-orphan"]]);
    const plan = planMirror([valid(a, "jwt-a")], resolver, { systemAccount: sys });
    assert.deepEqual(plan.remove, [`${orphan}.jwt`]);
    assert.deepEqual(plan.removed, [orphan]);
    const withoutOption = planMirror([valid(a, "jwt-a")], resolver, { removeMax: 2 });
    assert.deepEqual(withoutOption.remove, [`${sys}.jwt`, `${orphan}.jwt`].sort());
  });

  await t.step("writes the system account's JWT when it is mounted", () => {
    const sys = accountKey();
    const plan = planMirror([valid(sys, "jwt-sys2")], new Map([[`${sys}.jwt`, "jwt-sys1"]]), {
      systemAccount: sys,
    });
    assert.deepEqual(plan.write, [{ name: `${sys}.jwt`, jwt: "jwt-sys2" }]);
  });

  await t.step("never touches tombstones or files not named after an account key", () => {
    const a = accountKey();
    const gone = accountKey();
    const resolver = new Map([
      [`${gone}.jwt.deleted`, "jwt-gone"],
      ["operator.jwt", "jwt-op"],
      [`${a.toLowerCase()}.jwt`, "jwt-lower"],
      ["README", "text"],
      [`${a}.jwt`, "jwt-a"],
    ]);
    const plan = planMirror([valid(a, "jwt-a")], resolver);
    assert.deepEqual(plan, { ...emptyPlan(), unchanged: [`${a}.jwt`] });
  });

  await t.step("does not write an invalid new file", () => {
    const b = accountKey();
    const plan = planMirror(
      [invalid(`${b}.jwt`, "expired at 2026-01-01T00:00:00.000Z")],
      new Map(),
    );
    assert.deepEqual(plan, {
      ...emptyPlan(),
      rejected: [{
        name: `${b}.jwt`,
        reason: "expired at 2026-01-01T00:00:00.000Z",
        keptPrevious: false,
      }],
    });
  });

  await t.step(
    "keeps, and does not remove, the previous JWT when its replacement is invalid",
    () => {
      const a = accountKey();
      const plan = planMirror([invalid(`${a}.jwt`)], new Map([[`${a}.jwt`, "jwt-a-good"]]));
      assert.deepEqual(plan, {
        ...emptyPlan(),
        rejected: [{
          name: `${a}.jwt`,
          reason: "signature does not verify with issuer O...",
          keptPrevious: true,
        }],
      });
    },
  );

  await t.step("rejects a mounted file not named after an account key", () => {
    const plan = planMirror(
      [invalid("operator.jwt", 'not an account JWT: its type is "operator", not "account"')],
      new Map(),
    );
    assert.equal(plan.rejected.length, 1);
    assert.equal(plan.rejected[0]?.name, "operator.jwt");
    assert.deepEqual(plan.write, []);
  });

  await t.step("removes nothing when the mount is empty or missing, and says why", () => {
    const a = accountKey();
    const b = accountKey();
    const plan = planMirror([], new Map([[`${a}.jwt`, "jwt-a"], [`${b}.jwt`, "jwt-b"]]));
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(plan.removed, []);
    assert.deepEqual(plan.write, []);
    assert.match(plan.refusedRemoval ?? "", /the mount holds no \*\.jwt file: keeping all 2/);
    assert.match(planMirror([], new Map()).refusedRemoval ?? "", /nothing to mirror/);
  });

  await t.step("still removes orphans when the only mounted files are invalid", () => {
    const a = accountKey();
    const orphan = accountKey();
    const plan = planMirror(
      [invalid(`${a}.jwt`)],
      new Map([[`${a}.jwt`, "jwt-a"], [`${orphan}.jwt`, "jwt-orphan"]]),
    );
    assert.equal(plan.refusedRemoval, undefined);
    assert.deepEqual(plan.remove, [`${orphan}.jwt`]);
    assert.deepEqual(plan.rejected.map((r) => [r.name, r.keptPrevious]), [[`${a}.jwt`, true]]);
  });

  await t.step("handles a mix of every case at once, with sorted lists", () => {
    const [added1, added2, changed, same, badNew, badReplacement, orphan1, orphan2, sys] = Array
      .from({ length: 9 }, accountKey);
    const k = (pub: string | undefined) => `${pub}.jwt`;
    const mount = [
      valid(added2!, "jwt-added2"),
      valid(changed!, "jwt-changed-new"),
      invalid(k(badReplacement), "bad replacement"),
      valid(same!, "jwt-same"),
      invalid(k(badNew), "bad new"),
      valid(added1!, "jwt-added1"),
    ];
    const resolver = new Map([
      [k(changed), "jwt-changed-old"],
      [k(same), "jwt-same"],
      [k(badReplacement), "jwt-bad-replacement-previous"],
      [k(orphan2), "jwt-orphan2"],
      [k(orphan1), "jwt-orphan1"],
      [k(sys), "jwt-sys"],
      [`${orphan1}.jwt.deleted`, "tombstone"],
    ]);
    const plan = planMirror(mount, resolver, { systemAccount: sys! });
    const sorted = (names: string[]) => [...names].sort();

    assert.deepEqual(
      plan.write,
      sorted([k(added1), k(added2), k(changed)]).map((name) => ({
        name,
        jwt: name === k(added1)
          ? "jwt-added1"
          : name === k(added2)
          ? "jwt-added2"
          : "jwt-changed-new",
      })),
    );
    assert.deepEqual(plan.added, sorted([added1!, added2!]));
    assert.deepEqual(plan.changed, [changed]);
    assert.deepEqual(plan.unchanged, [k(same)]);
    assert.deepEqual(plan.remove, sorted([k(orphan1), k(orphan2)]));
    assert.deepEqual(plan.removed, sorted([orphan1!, orphan2!]));
    assert.deepEqual(
      plan.rejected,
      sorted([k(badNew), k(badReplacement)]).map((name) =>
        name === k(badNew)
          ? { name, reason: "bad new", keptPrevious: false }
          : { name, reason: "bad replacement", keptPrevious: true }
      ),
    );
    assert.equal(plan.refusedRemoval, undefined);
  });

  await t.step("does not modify its inputs", () => {
    const a = accountKey();
    const mount = [valid(a, "jwt-a"), invalid("x.jwt")];
    const resolver = new Map([[`${accountKey()}.jwt`, "jwt"]]);
    const before = JSON.stringify([mount, [...resolver]]);
    planMirror(mount, resolver);
    assert.equal(JSON.stringify([mount, [...resolver]]), before);
  });

  await t.step("never replaces a resolver JWT with an older (by iat) mounted one", () => {
    const a = accountKey();
    const jwtWithIat = (iat: number) =>
      `${btoa('{"alg":"ed25519-nkey"}')}.${btoa(JSON.stringify({ iat, sub: a }))}.sig`;
    const older = { ...valid(a, jwtWithIat(100)) };
    if (older.check.ok) older.check.claims.iat = 100;
    const plan = planMirror([older], new Map([[`${a}.jwt`, jwtWithIat(200)]]));
    assert.deepEqual(plan, {
      ...emptyPlan(),
      newerInResolver: [{ name: `${a}.jwt`, mountIat: 100, resolverIat: 200 }],
    });
    const newer = { ...valid(a, jwtWithIat(300)) };
    if (newer.check.ok) newer.check.claims.iat = 300;
    const forward = planMirror([newer], new Map([[`${a}.jwt`, jwtWithIat(200)]]));
    assert.deepEqual(forward.changed, [a], "a newer mounted JWT is written");
    const sameSecond = { ...valid(a, jwtWithIat(200) + "x") };
    if (sameSecond.check.ok) sameSecond.check.claims.iat = 200;
    const tie = planMirror([sameSecond], new Map([[`${a}.jwt`, jwtWithIat(200)]]));
    assert.deepEqual(tie.changed, [a], "an equal iat is not older: the mount wins");
  });

  await t.step("a mount holding only the system account's JWT removes nothing", () => {
    const [sys, a, b] = Array.from({ length: 3 }, accountKey);
    const resolver = new Map([[`${sys}.jwt`, "jwt-sys"], [`${a}.jwt`, "jwt-a"], [`${b}.jwt`, "b"]]);
    const plan = planMirror([valid(sys!, "jwt-sys")], resolver, {
      systemAccount: sys!,
      removeMax: 100,
    });
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(plan.removed, []);
    assert.match(
      plan.refusedRemoval ?? "",
      /the mount holds no account JWT other than the system account's: keeping all 2 /,
      "the count leaves the system account's own JWT out: it is kept in any case",
    );
  });

  await t.step("removing more accounts than half of the resolver's is refused", () => {
    // A,B,C -> C: a broken render that lost most keys.
    const [sys, a, b, c] = Array.from({ length: 4 }, accountKey);
    const resolver = new Map([
      [`${sys}.jwt`, "jwt-sys"],
      [`${a}.jwt`, "jwt-a"],
      [`${b}.jwt`, "jwt-b"],
      [`${c}.jwt`, "jwt-c"],
    ]);
    const plan = planMirror([valid(c!, "jwt-c")], resolver, { systemAccount: sys! });
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(plan.removed, []);
    assert.deepEqual(plan.unchanged, [`${c}.jwt`]);
    assert.match(
      plan.refusedRemoval ?? "",
      /2 accounts left the mount but at most 1 may be removed at once \(the default, half of the 3 account JWTs.*POT_NATS_REMOVE_MAX=2/,
    );
  });

  await t.step("the removal limit: exactly at it removes, one over removes none", () => {
    const accounts = Array.from({ length: 6 }, accountKey).sort();
    const resolver = new Map(accounts.map((a) => [`${a}.jwt`, `jwt-${a}`]));
    const keep = (n: number) => accounts.slice(n).map((a) => valid(a, `jwt-${a}`));
    // Default: half of 6 = 3.
    assert.deepEqual(planMirror(keep(3), resolver).removed, accounts.slice(0, 3));
    assert.deepEqual(planMirror(keep(4), resolver).removed, []);
    assert.match(planMirror(keep(4), resolver).refusedRemoval ?? "", /at most 3/);
    // An explicit limit replaces the default; 0 refuses every removal.
    assert.deepEqual(planMirror(keep(4), resolver, { removeMax: 4 }).removed, accounts.slice(0, 4));
    assert.match(
      planMirror(keep(1), resolver, { removeMax: 0 }).refusedRemoval ?? "",
      /at most 0 .*set by POT_NATS_REMOVE_MAX/,
    );
    // A single account of two can always go (the limit is at least 1).
    const [first, second] = accounts as [string, string];
    const two = new Map([[`${first}.jwt`, "jwt-1"], [`${second}.jwt`, "jwt-2"]]);
    assert.deepEqual(planMirror([valid(second, "jwt-2")], two).removed, [first]);
  });

  await t.step("a refused removal still writes what changed", () => {
    const [a, b, c] = Array.from({ length: 3 }, accountKey);
    const resolver = new Map([[`${a}.jwt`, "a1"], [`${b}.jwt`, "b"], [`${c}.jwt`, "c"]]);
    const plan = planMirror([valid(a!, "a2")], resolver);
    assert.deepEqual(plan.write, [{ name: `${a}.jwt`, jwt: "a2" }]);
    assert.deepEqual(plan.remove, []);
    assert.ok(plan.refusedRemoval);
  });

  await t.step("a JWT the mirror knew in step that the resolver lost is a repair", () => {
    const [a, b, c] = Array.from({ length: 3 }, accountKey);
    const known = new Map([[`${a}.jwt`, "jwt-a"], [`${b}.jwt`, "jwt-b"], [`${c}.jwt`, "c1"]]);
    const plan = planMirror(
      [valid(a!, "jwt-a"), valid(b!, "jwt-b"), valid(c!, "c2")],
      new Map([[`${b}.jwt`, "jwt-b-tampered"], [`${c}.jwt`, "c1"]]),
      { known },
    );
    assert.deepEqual(plan.added, [a]);
    assert.deepEqual(plan.changed, [b, c].sort());
    // c changed in the mount: an ordinary change, not a repair.
    assert.deepEqual(
      plan.repaired,
      [{ account: a!, found: "missing" }, { account: b!, found: "different" }].sort((x, y) =>
        x.account < y.account ? -1 : 1
      ),
    );
  });
});
