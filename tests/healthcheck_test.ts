/**
 * End-to-end: `pot-nats healthcheck [--ready]` (the image's HEALTHCHECK and the Kubernetes probes;
 * the image has no curl) against a real supervised nats-server: the supervisor's own endpoint up,
 * down and off (then nats-server's monitor is asked), and the monitor off too.
 */

import assert from "node:assert/strict";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";

Deno.test("pot-nats healthcheck", async (t) => {
  await using setup = await tempSetup();
  const healthcheck = async (env: Record<string, string>, args = ["healthcheck"]) => {
    await using check = runSupervisor({ env: { ...setup.env, ...env }, args });
    const status = await check.status;
    return { code: status.code, output: check.transcript() };
  };

  const httpPort = setup.env.POT_NATS_HTTP_PORT;

  await t.step("exits 0 while the supervisor answers /healthz and /readyz", async () => {
    await using run = runSupervisor({ env: setup.env });
    await run.waitForLine(/pushed account JWTs/);
    const live = await healthcheck({});
    assert.equal(live.code, 0, live.output);
    assert.match(live.output, new RegExp(`healthy: http://127\\.0\\.0\\.1:${httpPort}/healthz`));
    const ready = await pollUntil("ready", async () => {
      await using check = runSupervisor({
        env: setup.env,
        args: ["healthcheck", "--ready"],
      });
      return (await check.status).code === 0 && check.transcript();
    });
    assert.match(ready, new RegExp(`ready: http://127\\.0\\.0\\.1:${httpPort}/readyz: ready`));
    const monitorOnly = await healthcheck({ POT_NATS_HTTP_PORT: "0" });
    assert.equal(monitorOnly.code, 0, monitorOnly.output);
    assert.match(monitorOnly.output, /healthy: http:\/\/127\.0\.0\.1:\d+\/healthz: /);
  });

  await t.step("fails with the reason when nothing listens on the endpoint", async () => {
    const { code, output } = await healthcheck({});
    assert.equal(code, 1, output);
    assert.match(output, /pot-nats: http:\/\/127\.0\.0\.1:\d+\/healthz: .*(refused|connect)/i);
  });

  await t.step("fails with the reason when the endpoint and the monitor are off", async () => {
    const { code, output } = await healthcheck({ POT_NATS_HTTP_PORT: "0", NATS_MONITOR_PORT: "0" });
    assert.equal(code, 1, output);
    assert.match(output, /the HTTP endpoint and the monitor port are both off/);
    const ready = await healthcheck({ POT_NATS_HTTP_PORT: "0" }, ["healthcheck", "--ready"]);
    assert.equal(ready.code, 1, ready.output);
    assert.match(ready.output, /readiness needs the supervisor's HTTP endpoint, which is off/);
  });
});
