/**
 * End-to-end: `pot-nats healthcheck` (the image's HEALTHCHECK; the image has no curl) against a real
 * supervised nats-server, with the monitor up, down and disabled.
 */

import assert from "node:assert/strict";
import { freePort } from "../dev/ports.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";

Deno.test("pot-nats healthcheck", async (t) => {
  await using setup = await tempSetup();
  const healthcheck = async (env: Record<string, string>) => {
    await using check = runSupervisor({ env: { ...setup.env, ...env }, args: ["healthcheck"] });
    const status = await check.status;
    return { code: status.code, output: check.transcript() };
  };

  await t.step("exits 0 while the supervised server answers /healthz", async () => {
    await using run = runSupervisor({ env: setup.env });
    await run.waitForLine(/Server is ready/);
    const { code, output } = await healthcheck({});
    assert.equal(code, 0, output);
    assert.match(output, /healthy: http:\/\/127\.0\.0\.1:\d+\/healthz/);
  });

  await t.step("fails with the reason when nothing listens on the monitor port", async () => {
    const { code, output } = await healthcheck({ NATS_MONITOR_PORT: String(freePort()) });
    assert.equal(code, 1, output);
    assert.match(output, /pot-nats: http:\/\/127\.0\.0\.1:\d+\/healthz: .*(refused|connect)/i);
  });

  await t.step("fails with the reason when the monitor port is disabled", async () => {
    const { code, output } = await healthcheck({ NATS_MONITOR_PORT: "0" });
    assert.equal(code, 1, output);
    assert.match(output, /the monitor port is disabled \(NATS_MONITOR_PORT=0\)/);
  });
});
