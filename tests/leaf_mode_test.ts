/**
 * End-to-end: what each change triggers with NATS_SERVER_MODE=leaf, through main.ts and a real
 * nats-server. The dev setup's server is not really a leaf node; what is tested is the supervisor's
 * policy: TLS -> SIGHUP; config, accounts file, creds -> graceful restart; JWTs -> mirror only; an
 * invalid config -> nothing. One supervisor serves every step. `leaf_hub_test.ts` runs the mode on
 * a real hub and leaf.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";
import { accountsConfigText, serverConfigText } from "../dev/dev_setup.ts";

const RELOADED = /Reloaded server configuration/;
const STARTED = /nats-server started/;
const RESTARTING = /restarting nats-server to apply the change/;

interface Varz {
  max_connections: number;
  max_payload: number;
}

Deno.test("leaf mode: TLS reloads, config/accounts/creds restart, JWTs only mirror", async (t) => {
  await using setup = await tempSetup();
  const serverConf = (maxConnections: number) =>
    `${serverConfigText(setup)}max_connections: ${maxConnections}\n`;
  await Deno.writeTextFile(setup.confPath, serverConf(1000));

  await using run = runSupervisor({
    env: { ...setup.env, NATS_SERVER_MODE: "leaf", POT_NATS_LOG_LEVEL: "debug" },
  });
  let exited = false;
  void run.status.then(() => exited = true);
  await run.waitForLine(/watching for changes mode=leaf/);
  await run.waitForLine(/change pass: no content changed/);
  const varz = () => monitor<Varz>(setup.options.monitorPort, "varz");
  assert.equal((await varz()).max_connections, 1000);

  /** Waits for one graceful restart for `cause`; returns the new pid. */
  const expectRestart = async (cause: string, from: number, oldPid: number) => {
    const restarting = await run.waitForLine(RESTARTING, { from });
    assert.match(restarting, new RegExp(`causes=\\S*\\b${cause}\\b`));
    await run.waitForLine(STARTED, { from });
    const pid = run.serverPid();
    assert.ok(pid !== undefined && pid !== oldPid, `a new nats-server: ${pid} vs ${oldPid}`);
    const restarts = run.lines.slice(from).filter((line) => RESTARTING.test(line));
    assert.equal(restarts.length, 1, run.transcript());
    return pid;
  };

  await t.step("a TLS change is a SIGHUP reload, not a restart", async () => {
    const from = run.lines.length;
    const pid = run.serverPid();
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert 1");
    const confirmed = await run.waitForLine(/nats-server reloaded its configuration/, { from });
    assert.match(confirmed, /causes=tls$/);
    await pollUntil("the reload", () => run.count(RELOADED) === reloads + 1);
    assert.equal(run.serverPid(), pid);
    assert.equal(run.count(STARTED), 1);
    assert.equal(run.count(RESTARTING), 0);
  });

  await t.step("a config change restarts nats-server, which serves the new config", async () => {
    const from = run.lines.length;
    const pid = run.serverPid()!;
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(setup.confPath, serverConf(2001));
    await expectRestart("config", from, pid);
    await pollUntil("max_connections 2001", async () => (await varz()).max_connections === 2001);
    assert.equal(run.count(STARTED), 2);
    assert.equal(run.count(RELOADED), reloads, "no SIGHUP on top of the restart");
    assert.ok(!exited, "the supervisor keeps running across the restart");
  });

  await t.step("an accounts file change restarts nats-server", async () => {
    const from = run.lines.length;
    const pid = run.serverPid()!;
    await Deno.writeTextFile(
      setup.accountsPath,
      `${accountsConfigText(setup)}max_payload: 654321\n`,
    );
    await expectRestart("accounts", from, pid);
    await pollUntil("max_payload 654321", async () => (await varz()).max_payload === 654321);
    assert.equal(run.count(STARTED), 3);
    assert.ok(!exited);
  });

  await t.step("a creds change restarts nats-server", async () => {
    const from = run.lines.length;
    const pid = run.serverPid()!;
    await Deno.writeTextFile(join(setup.credsDir, "leaf.creds"), setup.demoUser.creds, {
      mode: 0o600,
    });
    await expectRestart("creds", from, pid);
    await pollUntil("the restarted server's monitor", async () => (await varz()).max_connections);
    assert.equal(run.count(STARTED), 4);
    assert.ok(!exited);
  });

  await t.step("a JWT mount change is mirrored, with no reload and no restart", async () => {
    const from = run.lines.length;
    const pid = run.serverPid();
    const reloads = run.count(RELOADED);
    const started = run.count(STARTED);
    const updated = await makeAccount(setup.operator, {
      name: "demo",
      key: setup.demo.kp,
      limits: { subs: 4242 },
    });
    const resolverFile = join(setup.jwtDir, `${setup.demo.pub}.jwt`);
    await Deno.writeTextFile(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt + "\n");
    await pollUntil(
      "the mirrored JWT",
      async () => (await Deno.readTextFile(resolverFile)) === updated.jwt,
    );
    assert.match(await run.waitForLine(/change detected/, { from }), /causes=jwt$/);
    // Passes never overlap: a later TLS change is handled after the JWT pass has ended, so its
    // reload is the marker that the JWT pass itself neither reloaded nor restarted.
    const marker = run.lines.length;
    await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert marker");
    await run.waitForLine(/nats-server reloaded its configuration causes=tls$/, { from: marker });
    await pollUntil("the marker reload", () => run.count(RELOADED) === reloads + 1);
    assert.equal(run.count(RELOADED), reloads + 1, run.transcript());
    assert.equal(run.count(STARTED), started);
    assert.equal(run.serverPid(), pid);
  });

  await t.step("an invalid config is not applied and the old server keeps serving", async () => {
    const from = run.lines.length;
    const pid = run.serverPid();
    const started = run.count(STARTED);
    const restarts = run.count(RESTARTING);
    await Deno.writeTextFile(setup.confPath, `${serverConf(2002)}max_payload: {{{\n`);
    const invalid = await run.waitForLine(/the changed config is invalid; not applied/, { from });
    assert.match(invalid, /ERR/);
    assert.equal(run.count(RESTARTING), restarts);
    assert.equal(run.count(STARTED), started);
    assert.equal(run.serverPid(), pid);
    assert.equal((await varz()).max_connections, 2001);
    assert.ok(!exited);

    // A fix is applied with a restart.
    const fixed = run.lines.length;
    await Deno.writeTextFile(setup.confPath, serverConf(2003));
    await expectRestart("config", fixed, pid!);
    await pollUntil("max_connections 2003", async () => (await varz()).max_connections === 2003);
  });
});
