/**
 * The resolver model's decisions, run against a resolver dir simulated as a map: which files a run
 * reads, what it may skip, and that everything the model spares is caught by the next drift check.
 */

import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { contentDigest } from "../shared/digest.ts";
import {
  issuedAt,
  type MirrorPlan,
  type MountEntry,
  planMirror,
  type ResolverCopy,
} from "./plan.ts";
import {
  nextModel,
  type PlannedRun,
  planRun,
  type ResolverModel,
  resolverReads,
} from "./resolver_model.ts";

const accountKey = () => createAccount().getPublicKey();
const file = (pub: string) => `${pub}.jwt`;

/** A JWT-shaped text whose payload carries `iat` (the plan reads only that). */
function jwt(sub: string, iat: number, tag = ""): string {
  const part = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "");
  return `${part({ alg: "ed25519-nkey" })}.${part({ sub, iat, tag })}.sig`;
}

/** A valid mounted JWT as the mirror hands it to the plan (with its text, or without: cached). */
function mounted(text: string, options: { withText?: boolean } = {}): MountEntry {
  const sub = JSON.parse(atob(text.split(".")[1]!)).sub as string;
  const claims = { sub, iat: issuedAt(text)! };
  return {
    name: file(sub),
    check: options.withText === false ? { ok: true, claims } : { ok: true, jwt: text, claims },
    digest: contentDigest(text),
  };
}

/** A resolver dir in memory, read the way `readResolverCopies` reads one; it counts the reads. */
class Disk {
  readonly files = new Map<string, string>();
  reads: string[] = [];

  read(names: readonly string[] | undefined): Map<string, ResolverCopy> {
    const copies = new Map<string, ResolverCopy>();
    for (const name of names ?? [...this.files.keys()]) {
      this.reads.push(name);
      const text = this.files.get(name);
      if (text !== undefined) {
        copies.set(name, { digest: contentDigest(text), iat: issuedAt(text) });
      }
    }
    return copies;
  }

  /** Carries out a plan (every write and removal succeeds). */
  apply(plan: MirrorPlan): { written: string[]; removed: string[]; failed: never[] } {
    for (const { name, jwt } of plan.write) this.files.set(name, jwt);
    for (const name of plan.remove) this.files.delete(name);
    return { written: plan.write.map((w) => w.name), removed: plan.remove, failed: [] };
  }
}

/** A mirror's memory across runs, as JwtMirror keeps it. */
class Mirror {
  model: ResolverModel | undefined;
  readonly known = new Map<string, string>();
  constructor(readonly disk: Disk) {}

  /** One run: plan (reading what it must), apply, remember. */
  run(mount: MountEntry[], options: { readAll?: boolean; systemAccount?: string } = {}) {
    this.disk.reads = [];
    const run: PlannedRun = planRun(mount, this.model, {
      ...options,
      known: this.known,
      read: (names) => this.disk.read(names),
    });
    const result = this.disk.apply(run.plan);
    this.model = nextModel(run, result);
    for (const w of run.plan.write) this.known.set(w.name, w.digest!);
    for (const name of run.plan.unchanged) {
      this.known.set(name, mount.find((e) => e.name === name)!.digest!);
    }
    return { ...run, readNames: [...this.disk.reads] };
  }
}

/** A mirror whose mount and resolver dir hold `count` accounts in step. */
function inStep(count: number) {
  const disk = new Disk();
  const mirror = new Mirror(disk);
  const jwts = Array.from({ length: count }, () => jwt(accountKey(), 100));
  const mount = jwts.map((text) => mounted(text));
  mirror.run(mount);
  return { disk, mirror, mount, jwts };
}

Deno.test("resolver model", async (t) => {
  await t.step("a change of one account reads that account's resolver file only", () => {
    const { disk, mirror, mount } = inStep(5);
    const changed = mounted(jwt(mount[2]!.check.ok ? mount[2]!.check.claims.sub : "", 200));
    const next = mount.map((e) =>
      e.name === changed.name ? changed : mounted(textOf(e), {
        withText: false,
      })
    );
    const run = mirror.run(next);
    assert.deepEqual(run.readNames, [changed.name]);
    assert.deepEqual(run.plan.write.map((w) => w.name), [changed.name]);
    assert.equal(run.plan.unchanged.length, 4);
    assert.equal(disk.files.get(changed.name), textOf(changed));
  });

  await t.step("a file changed behind the mirror's back is caught by the next drift check", () => {
    const { disk, mirror, mount } = inStep(3);
    const [a, b] = mount as [MountEntry, MountEntry];
    // Not newer than the mounted JWT (same iat), but different: the mount's must come back.
    disk.files.set(a.name, jwt(subOf(a), 100, "tampered"));
    const other = mounted(jwt(subOf(b), 200));
    const between = mirror.run([a, other, mount[2]!]);
    assert.deepEqual(between.readNames, [other.name], "the model vouched for a: not read");
    assert.equal(disk.files.get(a.name), jwt(subOf(a), 100, "tampered"));
    const check = mirror.run([a, other, mount[2]!], { readAll: true });
    assert.equal(check.reads.all, true);
    assert.deepEqual(check.plan.write.map((w) => w.name), [a.name]);
    assert.deepEqual(check.plan.repaired, [{ account: subOf(a), found: "different" }]);
    assert.equal(disk.files.get(a.name), textOf(a));
  });

  await t.step(
    "a cluster-pushed newer JWT is never overwritten by an older mounted one, between drift checks",
    () => {
      const { disk, mirror, mount } = inStep(3);
      const [a] = mount as [MountEntry];
      const pushed = jwt(subOf(a), 300); // a peer's push, stored by nats-server meanwhile
      disk.files.set(a.name, pushed);
      // This node's mount catches up only part of the way: newer than what the model knows,
      // older than what the resolver holds now.
      const catchingUp = mounted(jwt(subOf(a), 200));
      const run = mirror.run([catchingUp, ...mount.slice(1)]);
      assert.equal(run.reads.all, false, "no drift check: only the changed file is read");
      assert.deepEqual(run.readNames, [a.name]);
      assert.deepEqual(run.plan.write, []);
      assert.deepEqual(run.plan.newerInResolver, [
        { name: a.name, mountIat: 200, resolverIat: 300 },
      ]);
      assert.equal(disk.files.get(a.name), pushed);
      // ...and the next run, with the model now knowing the pushed copy, still leaves it.
      const again = mirror.run([catchingUp, ...mount.slice(1)]);
      assert.deepEqual(again.plan.write, []);
      assert.equal(disk.files.get(a.name), pushed);
    },
  );

  await t.step(
    "a file removed behind the mirror's back is written again on the drift check",
    () => {
      const { disk, mirror, mount } = inStep(3);
      const [a] = mount as [MountEntry];
      disk.files.delete(a.name);
      const between = mirror.run(mount);
      assert.deepEqual(between.readNames, []);
      assert.equal(disk.files.has(a.name), false, "between drift checks: not seen");
      const check = mirror.run(mount, { readAll: true });
      assert.deepEqual(check.plan.repaired, [{ account: subOf(a), found: "missing" }]);
      assert.equal(disk.files.get(a.name), textOf(a));
    },
  );

  await t.step("after a failed write the model is not trusted: the next run reads all", () => {
    const { disk, mirror, mount } = inStep(3);
    const changed = mounted(jwt(subOf(mount[0]!), 200));
    const run = planRun([changed, ...mount.slice(1)], mirror.model, {
      read: (names) => disk.read(names),
    });
    const failed = { written: [], removed: [], failed: [{ name: changed.name, error: "ENOSPC" }] };
    assert.equal(nextModel(run, failed), undefined);
    assert.deepEqual(resolverReads(mount, undefined), { all: true, why: "no model" });
    // A removal that failed counts the same.
    const removal = { written: [], removed: [], failed: [{ name: "x.jwt", error: "EACCES" }] };
    assert.equal(nextModel(run, removal), undefined);
  });

  await t.step("an account leaving the mount makes the run read the whole dir", () => {
    const { disk, mirror, mount } = inStep(4);
    // Two accounts the model never saw (a peer pushed them): they count for the removal limit.
    for (let i = 0; i < 2; i++) {
      const pub = accountKey();
      disk.files.set(file(pub), jwt(pub, 100));
    }
    const run = mirror.run(mount.slice(1));
    assert.deepEqual(run.reads, { all: true, why: "removal" });
    // Three orphans of six accounts on disk: at the default limit (half), all three go.
    assert.equal(run.plan.removed.length, 3);
    assert.ok(run.plan.removed.includes(subOf(mount[0]!)));
  });

  await t.step("the system account's file and other names never force a whole read", () => {
    const sys = accountKey();
    const model = new Map([[file(sys), "d"], ["README.jwt", "d"], [`${sys}.jwt.deleted`, "d"]]);
    const a = mounted(jwt(accountKey(), 100));
    assert.deepEqual(resolverReads([a], model, { systemAccount: sys }), {
      all: false,
      names: [a.name],
    });
  });

  await t.step("a valid JWT without its text is given it before it may be written", () => {
    const { disk, mirror, mount } = inStep(2);
    const changed = mounted(jwt(subOf(mount[0]!), 200), { withText: false });
    const given: string[] = [];
    const run = planRun([changed, mounted(textOf(mount[1]!), { withText: false })], mirror.model, {
      read: (names) => disk.read(names),
      withText: (entry) => {
        given.push(entry.name);
        return {
          ...entry,
          check: { ...entry.check, jwt: jwt(subOf(mount[0]!), 200) },
        } as MountEntry;
      },
    });
    assert.deepEqual(given, [changed.name], "only the one that may be written");
    assert.deepEqual(run.plan.write.map((w) => w.name), [changed.name]);
  });
});

Deno.test("planMirror never acts on a resolver copy it was given only the model's word for", () => {
  const [a, orphan] = [accountKey(), accountKey()];
  const entry = mounted(jwt(a, 200));
  const view = new Map<string, ResolverCopy>([
    [file(a), { digest: contentDigest(jwt(a, 100)), unread: true }],
    [file(orphan), { digest: "x", unread: true }],
  ]);
  const plan = planMirror([entry], view, { removeMax: 10 });
  assert.deepEqual(plan.write, []);
  assert.deepEqual(plan.remove, []);
  assert.deepEqual(plan.unread, [file(a), file(orphan)].sort());
  // An unread copy the mount agrees with is simply unchanged.
  const same = new Map([[file(a), { digest: entry.digest!, unread: true }]]);
  assert.deepEqual(planMirror([entry], same).unchanged, [file(a)]);
  // A valid JWT without its text is not written either.
  const textless = mounted(jwt(a, 200), { withText: false });
  assert.deepEqual(planMirror([textless], new Map()).unread, [file(a)]);
});

function subOf(entry: MountEntry): string {
  assert.ok(entry.check.ok);
  return entry.check.claims.sub;
}

function textOf(entry: MountEntry): string {
  assert.ok(entry.check.ok && entry.check.jwt !== undefined);
  return entry.check.jwt;
}
