/**
 * JwtMirror, one run at a time, on real directories: a dev setup's mount and resolver dir, real
 * account JWTs, and the server config read from its file as a pass reads it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerView } from "../config/server_view.ts";
import {
  type FixtureAccount,
  makeAccount,
  makeOperator,
  signClaims,
} from "../../dev/jwt_fixtures.ts";
import { makeAccounts } from "../../dev/bulk_jwt.ts";
import { base64UrlDecode } from "../jwt/encoding.ts";
import { silentLogger } from "../shared/log.ts";
import { captureLog, type LogEntry } from "../../tests/_helpers/log_capture.ts";
import { type TempSetup, tempSetup } from "../../tests/_helpers/setup.ts";
import { checkMountFile, readMountFiles } from "./files.ts";
import { JwtMirror, type JwtMirrorOptions, type MirrorOutcome } from "./mirror.ts";

/** A mirror on the setup's mount and resolver dir, and a run of it as one pass makes it. */
function mirrorOn(setup: TempSetup, options: Partial<JwtMirrorOptions> = {}) {
  const { log, entries } = captureLog();
  const mirror = new JwtMirror({
    mountDir: setup.mountDir,
    resolverDir: setup.jwtDir,
    log,
    ...options,
  });
  return {
    log,
    entries,
    /** One run: the mount read, the config read from `confPath` (default: the setup's). */
    apply(confPath = setup.confPath): Promise<MirrorOutcome> {
      return mirror.apply(readMountFiles(setup.mountDir), ServerView.read(confPath));
    },
    /** The log lines at `level` whose message matches `pattern`. */
    lines(level: string, pattern: RegExp): LogEntry[] {
      return entries.filter((e) => e.level === level && pattern.test(e.msg));
    },
  };
}

/** A new account signed with the setup's operator signing key, as the mount would hold it. */
function newAccount(
  setup: TempSetup,
  name: string,
  options: Pick<Parameters<typeof makeAccount>[1], "key" | "limits"> = {},
) {
  return makeAccount(setup.operator, { name, signer: setup.operator.signingKey!.kp, ...options });
}

function mount(setup: TempSetup, pub: string, text: string): void {
  Deno.writeTextFileSync(join(setup.mountDir, `${pub}.jwt`), text);
}

function resolverPath(setup: TempSetup, pub: string): string {
  return join(setup.jwtDir, `${pub}.jwt`);
}

function resolverJwt(setup: TempSetup, pub: string): string | undefined {
  try {
    return Deno.readTextFileSync(resolverPath(setup, pub));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

Deno.test("JwtMirror: a lasting fact is logged once", async (t) => {
  await t.step(
    "a rejected mounted file is logged once per content, and again when it changes",
    async () => {
      await using setup = await tempSetup();
      const m = mirrorOn(setup);
      const account = await newAccount(setup, "a");
      const rejected = new RegExp(`^mounted JWT ${account.pub}\\.jwt rejected: `);
      mount(setup, account.pub, "not a JWT");
      await m.apply();
      await m.apply();
      assert.equal(m.lines("error", rejected).length, 1, "the same content: once");
      assert.equal(m.lines("error", rejected)[0]!.kept, "nothing (not mirrored)");
      mount(setup, account.pub, "still not a JWT");
      await m.apply();
      assert.equal(m.lines("error", rejected).length, 2, "a new content: again");
      mount(setup, account.pub, account.jwt);
      const accepted = await m.apply();
      assert.deepEqual(accepted.changes.added, [account.pub]);
      mount(setup, account.pub, "not a JWT");
      await m.apply();
      const lines = m.lines("error", rejected);
      assert.equal(lines.length, 3, "rejected again after it was accepted in between: again");
      assert.equal(lines[2]!.kept, "the previously mirrored version");
      assert.equal(resolverJwt(setup, account.pub), account.jwt);
    },
  );

  await t.step("a rejected file that left the mount and came back is logged again", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    const extra = await newAccount(setup, "extra");
    mount(setup, extra.pub, "not a JWT");
    await m.apply();
    Deno.removeSync(join(setup.mountDir, `${extra.pub}.jwt`));
    await m.apply();
    mount(setup, extra.pub, "not a JWT");
    await m.apply();
    assert.equal(m.lines("error", /^mounted JWT \S+ rejected: /).length, 2);
  });

  await t.step(
    "a mounted JWT older than the resolver's copy is kept out, said once",
    async () => {
      await using setup = await tempSetup();
      const m = mirrorOn(setup);
      const older = await newAccount(setup, "a");
      // The same claims issued ten seconds later, signed by the same key, as a peer's push would be.
      const claims = JSON.parse(
        new TextDecoder().decode(base64UrlDecode(older.jwt.split(".")[1]!)),
      );
      const newer = {
        jwt: signClaims({ ...claims, iat: claims.iat + 10 }, setup.operator.signingKey!.kp),
      };
      Deno.writeTextFileSync(resolverPath(setup, older.pub), newer.jwt);
      mount(setup, older.pub, older.jwt);
      const first = await m.apply();
      await m.apply();
      assert.equal(first.changes.jwts.has(older.pub), false, "not written, so not pushed");
      assert.equal(
        m.lines("warn", /is older than the server's copy; keeping the newer one/).length,
        1,
      );
      assert.equal(resolverJwt(setup, older.pub), newer.jwt);
    },
  );

  await t.step("a config that names no trusted operator is warned about once", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    const conf = join(setup.dir, "config", "no-operator.conf");
    const text = Deno.readTextFileSync(setup.confPath);
    Deno.writeTextFileSync(conf, text.replace(/^operator: .*$/m, ""));
    const outcome = await m.apply(conf);
    await m.apply(conf);
    assert.equal(m.lines("warn", /names no trusted operator/).length, 1);
    assert.deepEqual(outcome.changes.added, []);
    assert.equal(resolverJwt(setup, setup.demo.pub), undefined, "nothing mirrored");
  });
});

Deno.test("JwtMirror: drift of the resolver dir is repaired and said what it was", async (t) => {
  await t.step("a first write is not a repair", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    const outcome = await m.apply();
    assert.deepEqual(outcome.changes.added, [setup.demo.pub]);
    assert.deepEqual(outcome.changes.repaired, []);
    assert.equal(m.lines("warn", /resolver drift/).length, 0);
  });

  await t.step("a JWT missing from the resolver dir is written back: found missing", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    await m.apply();
    Deno.removeSync(resolverPath(setup, setup.demo.pub));
    const outcome = await m.apply();
    assert.deepEqual(outcome.changes.repaired, [setup.demo.pub]);
    assert.deepEqual(outcome.changes.added, [setup.demo.pub]);
    assert.deepEqual([...outcome.changes.jwts.keys()], [setup.demo.pub], "to be pushed");
    const [line, ...more] = m.lines("warn", /resolver drift/);
    assert.deepEqual(more, []);
    assert.match(line!.msg, /the JWT of account \S+ was missing from the resolver dir/);
    assert.equal(line!.account, setup.demo.pub);
    assert.equal(resolverJwt(setup, setup.demo.pub), setup.demo.jwt);
  });

  await t.step("a different, not newer JWT in the resolver dir: found different", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    // Made before the mounted one, so it is not newer; its limits make it differ.
    const other = await newAccount(setup, "demo", { key: setup.demo.kp, limits: { conn: 5 } });
    const mounted = await newAccount(setup, "demo", { key: setup.demo.kp });
    mount(setup, setup.demo.pub, mounted.jwt);
    await m.apply();
    Deno.writeTextFileSync(resolverPath(setup, setup.demo.pub), other.jwt);
    const outcome = await m.apply();
    assert.deepEqual(outcome.changes.repaired, [setup.demo.pub]);
    assert.deepEqual(outcome.changes.changed, [setup.demo.pub]);
    const [line] = m.lines("warn", /resolver drift/);
    assert.match(
      line!.msg,
      /the resolver dir held a different JWT for account \S+ than the mount/,
    );
    assert.equal(typeof line!.resolver_iat, "number");
    assert.equal(resolverJwt(setup, setup.demo.pub), mounted.jwt);
  });

  await t.step(
    "an empty resolver copy (caught mid-write) is read again, then repaired",
    async () => {
      await using setup = await tempSetup();
      const m = mirrorOn(setup);
      await m.apply();
      Deno.writeTextFileSync(resolverPath(setup, setup.demo.pub), "");
      const outcome = await m.apply();
      assert.deepEqual(outcome.changes.repaired, [setup.demo.pub]);
      const [line] = m.lines("warn", /resolver drift: the resolver dir held a different JWT/);
      assert.equal(line!.resolver_iat, "unreadable");
      assert.equal(resolverJwt(setup, setup.demo.pub), setup.demo.jwt);
    },
  );

  await t.step(
    "a tombstoned account (<acc>.jwt.deleted) gets the tombstone message",
    async () => {
      await using setup = await tempSetup();
      const m = mirrorOn(setup);
      await m.apply();
      // What nats-server leaves after a $SYS.REQ.CLAIMS.DELETE.
      Deno.renameSync(
        resolverPath(setup, setup.demo.pub),
        `${resolverPath(setup, setup.demo.pub)}.deleted`,
      );
      const outcome = await m.apply();
      assert.deepEqual(outcome.changes.repaired, [setup.demo.pub]);
      const [line, ...more] = m.lines("warn", /resolver drift/);
      assert.deepEqual(more, []);
      assert.match(line!.msg, /account \S+ was deleted on the server \(\S+\.jwt\.deleted/);
      assert.match(String(line!.hint), /ignores a re-push of the JWT it deleted/);
      assert.equal(resolverJwt(setup, setup.demo.pub), setup.demo.jwt);
    },
  );
});

Deno.test("JwtMirror: removals", async (t) => {
  /** A setup whose mount and resolver dir hold the demo account and `extra` more accounts. */
  async function withAccounts(extra: number) {
    const setup = await tempSetup();
    const accounts = [];
    for (let i = 0; i < extra; i++) {
      const account = await newAccount(setup, `extra-${i}`);
      mount(setup, account.pub, account.jwt);
      accounts.push(account);
    }
    const removals: { accounts: string[]; filesThen: boolean[] }[] = [];
    const m = mirrorOn(setup, {
      beforeRemove: (removed) => {
        const filesThen = removed.map((pub) => resolverJwt(setup, pub) !== undefined);
        removals.push({ accounts: removed, filesThen });
        return Promise.resolve();
      },
    });
    await m.apply();
    return { setup, accounts, m, removals };
  }

  await t.step(
    "beforeRemove gets the removed accounts while their files still exist",
    async () => {
      const { setup, accounts, m, removals } = await withAccounts(2);
      await using _ = setup;
      const [gone] = accounts;
      Deno.removeSync(join(setup.mountDir, `${gone!.pub}.jwt`));
      const outcome = await m.apply();
      assert.deepEqual(removals, [{ accounts: [gone!.pub], filesThen: [true] }]);
      assert.deepEqual(outcome.changes.removed, [gone!.pub]);
      assert.equal(resolverJwt(setup, gone!.pub), undefined, "removed after the call");
    },
  );

  await t.step("a failing beforeRemove is logged and the removal goes on", async () => {
    await using setup = await tempSetup();
    const extra = await newAccount(setup, "extra");
    mount(setup, extra.pub, extra.jwt);
    const m = mirrorOn(setup, { beforeRemove: () => Promise.reject(new Error("no connection")) });
    await m.apply();
    Deno.removeSync(join(setup.mountDir, `${extra.pub}.jwt`));
    const outcome = await m.apply();
    assert.deepEqual(outcome.changes.removed, [extra.pub]);
    assert.equal(
      m.lines("error", /^live delete of removed accounts failed: no connection$/).length,
      1,
    );
  });

  await t.step(
    "too many removals at once: refused, said once, nothing removed, no beforeRemove",
    async () => {
      const { setup, accounts, m, removals } = await withAccounts(2);
      await using _ = setup;
      for (const account of accounts) Deno.removeSync(join(setup.mountDir, `${account.pub}.jwt`));
      const refused = /^2 accounts left the mount but at most 1 may be removed at once/;
      for (let pass = 0; pass < 3; pass++) {
        const outcome = await m.apply();
        assert.deepEqual(outcome.changes.removed, []);
      }
      const lines = m.lines("warn", refused);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!.msg, /set POT_NATS_REMOVE_MAX=2 \(or more\) to allow it/);
      assert.equal(lines[0]!.kept, 3);
      assert.deepEqual(removals, []);
      for (const account of accounts) assert.equal(resolverJwt(setup, account.pub), account.jwt);

      // Once the refusal no longer holds, it is forgotten: should it return, it is said again.
      for (const account of accounts) mount(setup, account.pub, account.jwt);
      await m.apply();
      for (const account of accounts) Deno.removeSync(join(setup.mountDir, `${account.pub}.jwt`));
      await m.apply();
      assert.equal(m.lines("warn", refused).length, 2);
    },
  );

  await t.step("POT_NATS_REMOVE_MAX lets a larger removal through", async () => {
    await using setup = await tempSetup();
    const extras = [await newAccount(setup, "x"), await newAccount(setup, "y")];
    for (const account of extras) mount(setup, account.pub, account.jwt);
    const m = mirrorOn(setup, { removeMax: 2 });
    await m.apply();
    for (const account of extras) Deno.removeSync(join(setup.mountDir, `${account.pub}.jwt`));
    const outcome = await m.apply();
    assert.deepEqual(outcome.changes.removed.sort(), extras.map((a) => a.pub).sort());
  });

  const onlySystem = /^the mount holds no account JWT other than the system account's: keeping all/;

  await t.step(
    "a mount left with only the system account's JWT: refused, said once, nothing removed",
    async () => {
      const { setup, accounts, m, removals } = await withAccounts(1);
      await using _ = setup;
      mount(setup, setup.system.pub, setup.system.jwt);
      await m.apply();
      for (const account of [setup.demo, ...accounts]) {
        Deno.removeSync(join(setup.mountDir, `${account.pub}.jwt`));
      }
      for (let pass = 0; pass < 3; pass++) await m.apply();
      const lines = m.lines("warn", onlySystem);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.kept, 2, "the two account JWTs besides the system account's");
      assert.deepEqual(removals, []);
      for (const account of [setup.system, setup.demo, ...accounts]) {
        assert.equal(resolverJwt(setup, account.pub), account.jwt);
      }
    },
  );

  await t.step({
    name: "a mount that turns into only the system account's JWT is said once",
    // The system account's JWT arrives with the broken mount: the first pass mirrors it, and the
    // refusal's count must not change with it, or it is said again on the next pass.
    fn: async () => {
      const { setup, accounts, m, removals } = await withAccounts(1);
      await using _ = setup;
      for (const account of [setup.demo, ...accounts]) {
        Deno.removeSync(join(setup.mountDir, `${account.pub}.jwt`));
      }
      mount(setup, setup.system.pub, setup.system.jwt);
      for (let pass = 0; pass < 3; pass++) await m.apply();
      assert.equal(m.lines("warn", onlySystem).length, 1);
      assert.deepEqual(removals, []);
    },
  });
});

Deno.test("JwtMirror: checks are cached by content and trust", async (t) => {
  await t.step("a run over unchanged content does not check the JWTs again", async () => {
    await using setup = await tempSetup();
    const accounts = await makeAccounts(setup.operator, 200);
    for (const account of [setup.demo, ...accounts]) {
      mount(setup, account.pub, account.jwt);
      Deno.writeTextFileSync(resolverPath(setup, account.pub), account.jwt);
    }
    const files = readMountFiles(setup.mountDir);
    const view = ServerView.read(setup.confPath);
    let checks = 0;
    const mirror = new JwtMirror({
      mountDir: setup.mountDir,
      resolverDir: setup.jwtDir,
      log: silentLogger,
      checkFile: (file, trust) => (checks++, checkMountFile(file, trust)),
    });
    await mirror.apply(files, view);
    assert.equal(checks, 201, "the first run checks every JWT");
    await mirror.apply(files, view);
    assert.equal(checks, 201, "a run over the same content checks none");
    const renewed = await makeAccount(setup.operator, { name: "renewed", key: setup.demo.kp });
    mount(setup, setup.demo.pub, renewed.jwt);
    await mirror.apply(readMountFiles(setup.mountDir), view);
    assert.equal(checks, 202, "a run after one file changed checks that one");
  });

  await t.step("a JWT accepted under one operator is checked again under another", async () => {
    await using setup = await tempSetup();
    const m = mirrorOn(setup);
    const first = await m.apply();
    assert.deepEqual(first.changes.added, [setup.demo.pub]);
    // The same mount, but the config now trusts another operator only.
    const other = await makeOperator({ name: "other" });
    Deno.writeTextFileSync(join(setup.dir, "other-operator.jwt"), other.jwt);
    const conf = join(setup.dir, "config", "other.conf");
    const text = Deno.readTextFileSync(setup.confPath);
    Deno.writeTextFileSync(conf, text.replace("../operator.jwt", "../other-operator.jwt"));
    const second = await m.apply(conf);
    assert.equal(second.changes.jwts.size, 0);
    const [line] = m.lines("error", /^mounted JWT \S+ rejected: /);
    assert.ok(line, "rejected under the new trust, not taken from the cache");
    assert.equal(line.kept, "the previously mirrored version");
    // And back: accepted again, nothing to write.
    const third = await m.apply();
    assert.equal(third.changes.jwts.size, 0);
    assert.equal(resolverJwt(setup, setup.demo.pub), setup.demo.jwt);
  });
});

Deno.test("JwtMirror: between drift checks the resolver dir is read only where it may be written", async (t) => {
  /** A mirror in step with a mount of three accounts, and its runs with or without a drift check. */
  async function inStep() {
    const setup = await tempSetup();
    const accounts = [await newAccount(setup, "a"), await newAccount(setup, "b")];
    for (const account of accounts) mount(setup, account.pub, account.jwt);
    const m = mirrorOn(setup);
    const view = () => ServerView.read(setup.confPath);
    const mirror = new JwtMirror({
      mountDir: setup.mountDir,
      resolverDir: setup.jwtDir,
      log: m.log,
    });
    const run = (readAll: boolean) =>
      mirror.apply(readMountFiles(setup.mountDir), view(), { readAll });
    await run(true);
    /** What the last run read of the resolver dir: "all (why)" or a count of files. */
    const lastRead = () => m.lines("debug", /^JWT mirror: planned$/).at(-1)?.resolver_read;
    return { setup, accounts, m, run, lastRead };
  }

  await t.step(
    "a change reads one file; a file lost meanwhile waits for the drift check",
    async () => {
      const { setup, accounts, run, lastRead } = await inStep();
      await using _ = setup;
      const [a, b] = accounts as [FixtureAccount, FixtureAccount];
      Deno.removeSync(resolverPath(setup, a.pub));
      const renewed = await newAccount(setup, "b", { key: b.kp, limits: { conn: 9 } });
      mount(setup, b.pub, renewed.jwt);
      const change = await run(false);
      assert.equal(lastRead(), 1);
      assert.deepEqual(change.changes.changed, [b.pub]);
      assert.equal(resolverJwt(setup, a.pub), undefined, "not looked at between drift checks");
      const check = await run(true);
      assert.equal(lastRead(), "all (drift check)");
      assert.deepEqual(check.changes.repaired, [a.pub]);
      assert.equal(resolverJwt(setup, a.pub), a.jwt);
    },
  );

  await t.step("after a failed write the next run reads the whole dir", async () => {
    const { setup, accounts, run, lastRead } = await inStep();
    await using _ = setup;
    const [a] = accounts as [FixtureAccount];
    // A directory where the file belongs: the atomic rename over it fails.
    Deno.removeSync(resolverPath(setup, a.pub));
    Deno.mkdirSync(resolverPath(setup, a.pub));
    mount(setup, a.pub, (await newAccount(setup, "a", { key: a.kp, limits: { conn: 3 } })).jwt);
    const failed = await run(false);
    assert.equal(failed.failed, 1);
    Deno.removeSync(resolverPath(setup, a.pub));
    const next = await run(false);
    assert.equal(lastRead(), "all (no model)");
    assert.deepEqual(next.changes.added, [a.pub]);
  });
});
