/**
 * End-to-end: a commit (a kubelet `..data` swap, a file renamed into place) is applied at once,
 * without the debounce. The debounce here is a minute (the most it may be), so a change that is
 * in force within the poll's deadline was acted on as a commit.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { makeAccount, untilNewerThan } from "../dev/jwt_fixtures.ts";
import { kubeletWrite } from "../dev/kubelet.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor, type SupervisorRun } from "../dev/supervisor_run.ts";

/** Debug lines say when the mount's watcher is armed: a change before that is no event at all. */
const MINUTE_DEBOUNCE = { POT_NATS_DEBOUNCE_MS: "60000", POT_NATS_LOG_LEVEL: "debug" };
/** Far below the minute of debounce, far above a commit's few milliseconds. */
const DEADLINE_MS = 15_000;

Deno.test("a commit is applied at once, even with a minute of debounce", async (t) => {
  await using setup = await tempSetup();
  const kubeletMount = join(setup.dir, "jwt-vol");
  await kubeletWrite(kubeletMount, { [`${setup.demo.pub}.jwt`]: setup.demo.jwt });
  /** The JWT is mirrored and pushed: in the resolver dir, and the push after `from` logged. */
  const applied = async (run: SupervisorRun, jwt: string, from: number) => {
    await run.waitForLine(/pushed account JWTs to the server accounts=1 failed=0/, {
      from,
      timeoutMs: DEADLINE_MS,
    });
    const stored = await Deno.readTextFile(join(setup.jwtDir, `${setup.demo.pub}.jwt`));
    assert.equal(stored.trim(), jwt);
  };
  /** A newer demo JWT (one second later, so its iat is newer) allowing `limit` streams. */
  const demoWith = async (limit: number) => {
    await untilNewerThan(setup.demo.jwt, limit);
    return (await makeAccount(setup.operator, {
      name: "demo",
      key: setup.demo.kp,
      limits: { streams: limit },
    })).jwt;
  };

  await t.step("a kubelet swap", async () => {
    await using run = runSupervisor({
      env: { ...setup.env, ...MINUTE_DEBOUNCE, NATS_JWT_MOUNT_DIR: kubeletMount },
    });
    await run.waitForLine(/pushed account JWTs to the server/);
    await run.waitForLine(new RegExp(`DBG watching ${kubeletMount}$`));
    const jwt = await demoWith(1);
    const from = run.lines.length;
    await kubeletWrite(kubeletMount, { [`${setup.demo.pub}.jwt`]: jwt });
    await applied(run, jwt, from);
  });

  await t.step("a JWT renamed into place", async () => {
    await using run = runSupervisor({ env: { ...setup.env, ...MINUTE_DEBOUNCE } });
    await run.waitForLine(/pushed account JWTs to the server/);
    await run.waitForLine(new RegExp(`DBG watching ${setup.mountDir}$`));
    const jwt = await demoWith(2);
    const from = run.lines.length;
    await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), jwt);
    await applied(run, jwt, from);
  });
});
