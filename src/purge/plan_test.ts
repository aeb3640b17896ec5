import assert from "node:assert/strict";
import { defaultPurgeMax, planPurge, type PurgeInputs, type PurgePlan } from "./plan.ts";

const ACCOUNT_KEY = /^A[A-Z2-7]{55}$/;
const isAccountKey = (name: string) => ACCOUNT_KEY.test(name);

/** A valid-looking account public key that reads as `label` (letters A-Z and digits 2-7 only). */
function key(label: string): string {
  const k = ("A" + label + "A".repeat(55)).slice(0, 56);
  assert.ok(isAccountKey(k), `bad test key label ${label}`);
  return k;
}

const SYS = key("SYS");
const ALICE = key("ALICE");
const BOB = key("BOB");
const CAROL = key("CAROL");
const DAVE = key("DAVE");
const ERIN = key("ERIN");
const NOW = 1_000_000_000;
const HOUR = 3_600_000;

/** Defaults; the mount holds what the resolver holds unless a case says otherwise. */
function inputs(overrides: Partial<PurgeInputs> = {}): PurgeInputs {
  const resolverAccounts = overrides.resolverAccounts ?? new Set([SYS, ALICE]);
  return {
    storeDirNames: [],
    resolverAccounts,
    mountAccounts: "mountAccounts" in overrides ? overrides.mountAccounts : resolverAccounts,
    systemAccount: SYS,
    absentSince: new Map(),
    now: NOW,
    graceMs: HOUR,
    max: undefined,
    dryRun: false,
    isAccountKey,
    ...overrides,
  };
}

Deno.test("defaultPurgeMax is half the accounts with data, rounded down, but at least 1", async (t) => {
  for (
    const [n, expected] of [[0, 1], [1, 1], [2, 1], [3, 1], [4, 2], [5, 2], [10, 5], [11, 5]]
  ) {
    await t.step(`${n} accounts -> ${expected}`, () => {
      assert.equal(defaultPurgeMax(n as number), expected);
    });
  }
  await t.step("rejects a count that is not a non-negative integer", () => {
    for (const bad of [-1, 1.5, NaN, Infinity]) {
      assert.throws(() => defaultPurgeMax(bad), RangeError);
    }
  });
});

Deno.test("planPurge picks candidates from the store listing", async (t) => {
  await t.step("an account with data but no JWT is a candidate; one with a JWT is not", () => {
    const plan = planPurge(inputs({ storeDirNames: [ALICE, BOB], graceMs: 0 }));
    assert.deepEqual(plan.purge, [BOB]);
    assert.equal(plan.refused, undefined);
  });

  await t.step("names that are not account keys are ignored, listed and sorted", () => {
    const names = ["_js_", "$G", "$SYS", "not-a-key", ALICE.toLowerCase(), ALICE + "X", "B" + BOB];
    const plan = planPurge(inputs({ storeDirNames: [BOB, ...names], graceMs: 0 }));
    assert.deepEqual(plan.ignored, [...names].sort());
    assert.deepEqual(plan.purge, [BOB]);
    assert.deepEqual(plan.waiting, []);
    assert.deepEqual([...plan.absentSince.keys()], [BOB]);
  });

  await t.step(
    "the system account is never a candidate, even when absent from the resolver",
    () => {
      const plan = planPurge(inputs({
        storeDirNames: [SYS, ALICE],
        resolverAccounts: new Set([ALICE]),
        absentSince: new Map([[SYS, NOW - 10 * HOUR]]),
        graceMs: 0,
        max: 100,
      }));
      assert.deepEqual(plan.purge, []);
      assert.deepEqual(plan.waiting, []);
      assert.deepEqual(plan.ignored, []);
      assert.equal(plan.absentSince.has(SYS), false);
      assert.equal(plan.refused, undefined);
    },
  );

  await t.step("without a configured system account every absent key is a candidate", () => {
    const plan = planPurge(inputs({
      storeDirNames: [SYS, BOB],
      resolverAccounts: new Set([ALICE]),
      systemAccount: undefined,
      graceMs: 0,
      max: 2,
    }));
    assert.deepEqual(plan.purge, [SYS, BOB].sort());
  });

  await t.step("an empty store gives an empty plan", () => {
    const plan = planPurge(inputs());
    assert.deepEqual(plan, {
      purge: [],
      wouldPurge: [],
      waiting: [],
      ignored: [],
      absentSince: new Map(),
      limit: 1,
    });
  });
});

Deno.test("planPurge refuses the whole run when the resolver dir holds no accounts", async (t) => {
  const previous = new Map([[BOB, NOW - 10 * HOUR]]);

  await t.step("empty resolver: nothing purged, no timer started, existing ones untouched", () => {
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB, CAROL, "_js_"],
      resolverAccounts: new Set(),
      absentSince: previous,
      graceMs: 0,
      max: 100,
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.wouldPurge, []);
    assert.deepEqual(plan.waiting, []);
    assert.deepEqual(plan.absentSince, previous);
    assert.notEqual(plan.absentSince, previous, "returns a copy, not the caller's map");
    assert.deepEqual(plan.ignored, ["_js_"]);
    assert.match(plan.refused ?? "", /resolver dir has no account JWTs/);
    assert.match(plan.refused ?? "", /fault/);
    assert.match(plan.refused ?? "", /not a removal/);
  });

  await t.step("a resolver dir holding only the system account is treated the same", () => {
    const plan = planPurge(inputs({
      storeDirNames: [SYS, ALICE, BOB],
      resolverAccounts: new Set([SYS]),
      absentSince: previous,
      graceMs: 0,
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.absentSince, previous);
    assert.match(plan.refused ?? "", /other than the system account's/);
  });

  await t.step("a dry run is refused the same way", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB],
      resolverAccounts: new Set(),
      graceMs: 0,
      dryRun: true,
    }));
    assert.deepEqual(plan.wouldPurge, []);
    assert.deepEqual(plan.absentSince, new Map());
    assert.ok(plan.refused);
  });
});

Deno.test("planPurge never touches an account that is in the mount", async (t) => {
  await t.step("an account whose resolver file is gone but which is still mounted stays", () => {
    // The reproduction of the data loss: C left the mount (a genuine removal), and B's resolver
    // file vanished behind the supervisor's back (deleted, or tombstoned by CLAIMS.DELETE).
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB, CAROL],
      resolverAccounts: new Set([SYS, ALICE]),
      mountAccounts: new Set([SYS, ALICE, BOB]),
      absentSince: new Map([[BOB, NOW - 10 * HOUR], [CAROL, NOW - 10 * HOUR]]),
      max: 100,
    }));
    assert.deepEqual(plan.purge, [CAROL]);
    assert.deepEqual([...plan.absentSince.keys()], [CAROL], "no timer for the mounted account");
  });

  await t.step("an account in the mount but not in the resolver starts no grace timer", () => {
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB],
      resolverAccounts: new Set([SYS, ALICE]),
      mountAccounts: new Set([SYS, ALICE, BOB]),
    }));
    assert.deepEqual(plan.waiting, []);
    assert.deepEqual(plan.absentSince, new Map());
  });

  await t.step("an account in the resolver but not in the mount stays too", () => {
    // A removal the mirror refused (too many at once) keeps the resolver file: no purge.
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB],
      resolverAccounts: new Set([SYS, ALICE, BOB]),
      mountAccounts: new Set([SYS, ALICE]),
      graceMs: 0,
    }));
    assert.deepEqual(plan.purge, []);
  });

  await t.step("a mount that could not be listed refuses the run", () => {
    const previous = new Map([[BOB, NOW - 10 * HOUR]]);
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB],
      mountAccounts: undefined,
      absentSince: previous,
      graceMs: 0,
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.absentSince, previous);
    assert.match(plan.refused ?? "", /the mount could not be listed/);
  });

  await t.step("an empty mount, or one holding only the system account, refuses the run", () => {
    for (const mountAccounts of [new Set<string>(), new Set([SYS])]) {
      const plan = planPurge(inputs({
        storeDirNames: [ALICE, BOB],
        mountAccounts,
        graceMs: 0,
        max: 100,
      }));
      assert.deepEqual(plan.purge, []);
      assert.deepEqual(plan.waiting, []);
      assert.match(plan.refused ?? "", /the mount holds no account JWTs/);
    }
  });
});

Deno.test("planPurge waits out the grace period before an account is due", async (t) => {
  await t.step("a first-seen candidate starts its timer now and waits the full grace", () => {
    const plan = planPurge(inputs({ storeDirNames: [ALICE, BOB] }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.waiting, [{ account: BOB, dueInMs: HOUR }]);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW]]));
    assert.equal(plan.refused, undefined);
  });

  await t.step("one ms before the grace ends it is still waiting, due in 1 ms", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB],
      absentSince: new Map([[BOB, NOW - HOUR + 1]]),
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.waiting, [{ account: BOB, dueInMs: 1 }]);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW - HOUR + 1]]));
  });

  await t.step("exactly at the end of the grace it is due", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB],
      absentSince: new Map([[BOB, NOW - HOUR]]),
    }));
    assert.deepEqual(plan.purge, [BOB]);
    assert.deepEqual(plan.waiting, []);
  });

  await t.step("a due account keeps its timestamp so a failed purge is retried", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB],
      absentSince: new Map([[BOB, NOW - 5 * HOUR]]),
    }));
    assert.deepEqual(plan.purge, [BOB]);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW - 5 * HOUR]]));
  });

  await t.step("graceMs 0 makes a first-seen candidate due at once", () => {
    const plan = planPurge(inputs({ storeDirNames: [BOB], graceMs: 0 }));
    assert.deepEqual(plan.purge, [BOB]);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW]]));
  });

  await t.step("an account whose JWT came back cancels its timer", () => {
    const plan = planPurge(inputs({
      storeDirNames: [ALICE, BOB],
      resolverAccounts: new Set([ALICE, BOB]),
      absentSince: new Map([[BOB, NOW - 5 * HOUR]]),
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.absentSince, new Map());
  });

  await t.step("a returning account that goes away again starts a fresh grace", () => {
    const back = planPurge(inputs({
      storeDirNames: [BOB],
      resolverAccounts: new Set([ALICE, BOB]),
      absentSince: new Map([[BOB, NOW - 5 * HOUR]]),
    }));
    const goneAgain = planPurge(inputs({
      storeDirNames: [BOB],
      absentSince: back.absentSince,
      now: NOW + 1,
    }));
    assert.deepEqual(goneAgain.purge, []);
    assert.deepEqual(goneAgain.waiting, [{ account: BOB, dueInMs: HOUR }]);
  });

  await t.step("an account whose data is gone is dropped from the timers", () => {
    const plan = planPurge(inputs({
      storeDirNames: [CAROL],
      absentSince: new Map([[BOB, NOW - 5 * HOUR], [CAROL, NOW - 60_000]]),
    }));
    assert.deepEqual(plan.absentSince, new Map([[CAROL, NOW - 60_000]]));
    assert.deepEqual(plan.waiting, [{ account: CAROL, dueInMs: HOUR - 60_000 }]);
  });

  await t.step("a timestamp in the future (clock stepped back) restarts the grace", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB],
      absentSince: new Map([[BOB, NOW + 10 * HOUR]]),
    }));
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.waiting, [{ account: BOB, dueInMs: HOUR }]);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW]]));
  });

  await t.step("a corrupt timestamp restarts the grace instead of making the account due", () => {
    for (const bad of [NaN, -Infinity, Infinity]) {
      const plan = planPurge(inputs({ storeDirNames: [BOB], absentSince: new Map([[BOB, bad]]) }));
      assert.deepEqual(plan.purge, [], `timestamp ${bad}`);
      assert.deepEqual(plan.absentSince, new Map([[BOB, NOW]]));
    }
  });
});

Deno.test("planPurge refuses the whole run when more accounts are due than the limit", async (t) => {
  const old = NOW - 5 * HOUR;
  // Eight accounts with data, so the default limit is 4.
  const live = [key("L2"), key("L3"), key("L4"), key("L5")];
  const absent = [BOB, CAROL, DAVE, ERIN];
  const base = {
    storeDirNames: [...live, ...absent],
    resolverAccounts: new Set([SYS, ...live]),
  };

  await t.step("exactly at the default limit everything due is purged", () => {
    const plan = planPurge(inputs({
      ...base,
      absentSince: new Map(absent.map((a) => [a, old])),
    }));
    assert.equal(plan.limit, 4);
    assert.deepEqual(plan.purge, [...absent].sort());
    assert.equal(plan.refused, undefined);
  });

  await t.step("one over the default limit purges none and says how to override", () => {
    const extra = key("FRANK");
    const plan = planPurge(inputs({
      ...base,
      storeDirNames: [...base.storeDirNames, extra],
      absentSince: new Map([...absent, extra].map((a) => [a, old])),
    }));
    assert.equal(plan.limit, 4);
    assert.deepEqual(plan.purge, []);
    assert.deepEqual(plan.wouldPurge, []);
    const reason = plan.refused ?? "";
    assert.match(reason, /5 accounts are due/);
    assert.match(reason, /limit is 4/);
    assert.match(reason, /half of the 9 accounts with JetStream data/);
    assert.match(reason, /POT_NATS_PURGE_MAX=5/);
    for (const a of [...absent, extra]) assert.ok(reason.includes(a), `reason names ${a}`);
    assert.deepEqual(
      plan.absentSince,
      new Map([...absent, extra].map((a) => [a, old])),
      "grace timers keep running",
    );
  });

  await t.step("an explicit max replaces the default", () => {
    const allowed = planPurge(inputs({
      ...base,
      absentSince: new Map(absent.map((a) => [a, old])),
      max: 4,
    }));
    assert.deepEqual(allowed.purge, [...absent].sort());
    const refused = planPurge(inputs({
      ...base,
      absentSince: new Map(absent.map((a) => [a, old])),
      max: 3,
    }));
    assert.equal(refused.limit, 3);
    assert.deepEqual(refused.purge, []);
    assert.match(
      refused.refused ?? "",
      /4 accounts are due .* limit is 3 \(set by POT_NATS_PURGE_MAX\)/,
    );
    const raised = planPurge(inputs({
      ...base,
      absentSince: new Map(absent.map((a) => [a, old])),
      max: 100,
    }));
    assert.deepEqual(raised.purge, [...absent].sort());
  });

  await t.step("max 0 refuses any due account", () => {
    const plan = planPurge(inputs({ storeDirNames: [BOB], graceMs: 0, max: 0 }));
    assert.deepEqual(plan.purge, []);
    assert.match(plan.refused ?? "", /1 account is due for purge but the limit is 0/);
    assert.deepEqual(plan.absentSince, new Map([[BOB, NOW]]));
  });

  await t.step("accounts still in their grace do not count against the limit", () => {
    const plan = planPurge(inputs({
      ...base,
      absentSince: new Map([[BOB, old]]),
      max: 1,
    }));
    assert.deepEqual(plan.purge, [BOB]);
    assert.deepEqual(plan.waiting.map((w) => w.account), [CAROL, DAVE, ERIN].sort());
  });

  await t.step("the single account of a store can be purged (default limit 1)", () => {
    const plan = planPurge(inputs({ storeDirNames: [BOB], graceMs: 0 }));
    assert.equal(plan.limit, 1);
    assert.deepEqual(plan.purge, [BOB]);
  });

  await t.step("with two accounts both gone only the limit of 1 applies: refused", () => {
    const plan = planPurge(inputs({ storeDirNames: [BOB, CAROL], graceMs: 0 }));
    assert.equal(plan.limit, 1);
    assert.deepEqual(plan.purge, []);
    assert.match(plan.refused ?? "", /2 accounts are due/);
  });

  await t.step("ignored names do not count as accounts with data", () => {
    const plan = planPurge(inputs({
      storeDirNames: [BOB, CAROL, "_js_", "$G", "x", "y"],
      graceMs: 0,
    }));
    assert.equal(plan.limit, 1);
    assert.ok(plan.refused);
  });

  await t.step("a dry run over the limit is refused too", () => {
    const plan = planPurge(inputs({ storeDirNames: [BOB, CAROL], graceMs: 0, dryRun: true }));
    assert.deepEqual(plan.wouldPurge, []);
    assert.ok(plan.refused);
  });
});

Deno.test("a dry run lists what would go and purges nothing", async (t) => {
  const common = {
    storeDirNames: [ALICE, BOB, CAROL, DAVE, key("L2"), key("L3")],
    resolverAccounts: new Set([ALICE, key("L2"), key("L3")]),
    absentSince: new Map([[BOB, NOW - 2 * HOUR], [CAROL, NOW - 2 * HOUR]]),
  };
  const dry = planPurge(inputs({ ...common, dryRun: true }));
  const real = planPurge(inputs({ ...common, dryRun: false }));

  await t.step("purge is empty and wouldPurge holds the due accounts", () => {
    assert.deepEqual(dry.purge, []);
    assert.deepEqual(dry.wouldPurge, [BOB, CAROL].sort());
    assert.equal(dry.refused, undefined);
  });

  await t.step("a real run has an empty wouldPurge", () => {
    assert.deepEqual(real.purge, [BOB, CAROL].sort());
    assert.deepEqual(real.wouldPurge, []);
  });

  await t.step("everything else equals the real run's plan", () => {
    assert.deepEqual({ ...dry, purge: [], wouldPurge: [] }, { ...real, purge: [], wouldPurge: [] });
    assert.deepEqual(dry.waiting, [{ account: DAVE, dueInMs: HOUR }]);
  });
});

Deno.test("planPurge is deterministic and sorts its output", async (t) => {
  const names = [ERIN, "_js_", BOB, "$G", DAVE, CAROL, ALICE, SYS, "zz", BOB, "_js_"];
  const absentSince = new Map([[ERIN, NOW - 2 * HOUR], [BOB, NOW - 2 * HOUR]]);
  const first = planPurge(inputs({ storeDirNames: names, absentSince, max: 10 }));

  await t.step("lists are sorted and duplicates collapse", () => {
    assert.deepEqual(first.purge, [BOB, ERIN].sort());
    assert.deepEqual(first.waiting.map((w) => w.account), [CAROL, DAVE].sort());
    assert.deepEqual(first.ignored, ["$G", "_js_", "zz"]);
    assert.deepEqual([...first.absentSince.keys()], [BOB, CAROL, DAVE, ERIN].sort());
  });

  await t.step("any order of the same inputs gives the same plan", () => {
    const random = prng(7);
    for (let i = 0; i < 50; i++) {
      const shuffled = shuffle(names, random);
      const shuffledSince = new Map(shuffle([...absentSince], random));
      const plan = planPurge(
        inputs({ storeDirNames: shuffled, absentSince: shuffledSince, max: 10 }),
      );
      assert.deepEqual(plan, first);
      assert.deepEqual([...plan.absentSince], [...first.absentSince]);
    }
  });

  await t.step("the caller's map is not modified", () => {
    assert.deepEqual(absentSince, new Map([[ERIN, NOW - 2 * HOUR], [BOB, NOW - 2 * HOUR]]));
  });
});

Deno.test("planPurge rejects out-of-range numbers with a RangeError", async (t) => {
  const cases: [string, Partial<PurgeInputs>, RegExp][] = [
    ["negative graceMs", { graceMs: -1 }, /graceMs must be a non-negative number, got -1/],
    ["NaN graceMs", { graceMs: NaN }, /graceMs/],
    ["non-finite now", { now: Infinity }, /now must be a finite number/],
    ["negative max", { max: -1 }, /POT_NATS_PURGE_MAX must be a non-negative integer, got -1/],
    ["fractional max", { max: 1.5 }, /POT_NATS_PURGE_MAX/],
    ["NaN max", { max: NaN }, /POT_NATS_PURGE_MAX/],
  ];
  for (const [name, overrides, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => planPurge(inputs({ storeDirNames: [BOB], ...overrides })), {
        name: "RangeError",
        message,
      });
    });
  }
});

Deno.test("planPurge keeps its safety invariants over many random inputs", () => {
  const random = prng(20261122);
  const pool = Array.from({ length: 12 }, (_, i) => key("P" + "ABCDEFGHIJKL"[i]));
  const junk = ["_js_", "$G", "$SYS", "tmp", "a" + "b".repeat(55)];
  const pick = <T>(items: readonly T[], p: number) => items.filter(() => random() < p);
  let purgedRuns = 0;
  let refusedRuns = 0;

  for (let i = 0; i < 2000; i++) {
    const graceMs = random() < 0.2 ? 0 : Math.floor(random() * 10 * HOUR);
    const systemAccount = random() < 0.8 ? pool[0] : undefined;
    const absentSince = new Map(
      pick(pool, 0.5).map((a) => [a, NOW - Math.floor(random() * 20 * HOUR) + HOUR]),
    );
    const input = inputs({
      storeDirNames: shuffle([...pick(pool, 0.6), ...pick(junk, 0.3)], random),
      resolverAccounts: new Set(random() < 0.1 ? [] : pick(pool, 0.4)),
      mountAccounts: random() < 0.05 ? undefined : new Set(random() < 0.1 ? [] : pick(pool, 0.4)),
      systemAccount,
      absentSince,
      graceMs,
      max: random() < 0.5 ? undefined : Math.floor(random() * 7),
      dryRun: random() < 0.25,
    });
    const plan = planPurge(input);
    const context = `case ${i}: ${JSON.stringify(summary(input, plan))}`;
    if (plan.purge.length > 0) purgedRuns++;
    if (plan.refused) refusedRuns++;

    for (const account of plan.purge) {
      assert.ok(!input.resolverAccounts.has(account), `purged a live account, ${context}`);
      assert.ok(!input.mountAccounts?.has(account), `purged a mounted account, ${context}`);
      assert.ok(input.mountAccounts !== undefined, `purged without a mount listing, ${context}`);
      assert.notEqual(account, systemAccount, `purged the system account, ${context}`);
      assert.ok(input.storeDirNames.includes(account), `purged an unknown name, ${context}`);
      assert.ok(isAccountKey(account), `purged a non-key, ${context}`);
      const since = plan.absentSince.get(account);
      assert.ok(since !== undefined && since <= NOW - graceMs, `grace not over, ${context}`);
      if (graceMs > 0) {
        // With a real grace, only a timestamp recorded by an earlier run can make an account due.
        const recorded = input.absentSince.get(account);
        assert.ok(
          recorded !== undefined && recorded <= NOW - graceMs,
          `grace not over, ${context}`,
        );
      }
    }
    assert.ok(plan.purge.length <= plan.limit, `over the limit, ${context}`);
    if (input.resolverAccounts.size === 0 || input.dryRun) {
      assert.deepEqual(plan.purge, [], `purged on an empty resolver or dry run, ${context}`);
    }
    if (!input.dryRun) assert.deepEqual(plan.wouldPurge, [], context);
    if (plan.refused) {
      assert.deepEqual(plan.purge, [], context);
      assert.deepEqual(plan.wouldPurge, [], context);
    }
    for (const { account, dueInMs } of plan.waiting) {
      assert.ok(dueInMs > 0 && dueInMs <= graceMs, `bad dueInMs, ${context}`);
      assert.ok(!plan.purge.includes(account), context);
    }
    if (plan.refused?.includes("resolver dir") || plan.refused?.includes("the mount")) {
      assert.deepEqual(plan.absentSince, input.absentSince, `timers changed, ${context}`);
    } else {
      for (const [account, since] of plan.absentSince) {
        assert.ok(since <= NOW, `timer in the future, ${context}`);
        assert.notEqual(account, systemAccount, `timer for the system account, ${context}`);
        assert.ok(!input.resolverAccounts.has(account), `timer for a live account, ${context}`);
        assert.ok(!input.mountAccounts?.has(account), `timer for a mounted account, ${context}`);
      }
    }
    assert.deepEqual(plan.purge, [...plan.purge].sort(), context);
    assert.deepEqual(planPurge(input), plan, `not deterministic, ${context}`);
  }
  // The generator must exercise both outcomes, or the invariants above prove little.
  assert.ok(purgedRuns > 100, `only ${purgedRuns} runs purged anything`);
  assert.ok(refusedRuns > 100, `only ${refusedRuns} runs were refused`);
});

function summary(input: PurgeInputs, plan: PurgePlan) {
  return {
    store: input.storeDirNames,
    resolver: [...input.resolverAccounts],
    mount: input.mountAccounts && [...input.mountAccounts],
    system: input.systemAccount,
    absentSince: [...input.absentSince],
    graceMs: input.graceMs,
    max: input.max,
    dryRun: input.dryRun,
    plan: { ...plan, absentSince: [...plan.absentSince] },
  };
}

/** mulberry32: a small seeded PRNG, so the random test is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
