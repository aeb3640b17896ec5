/**
 * End-to-end: the change pipeline on Kubernetes-style volumes (kubelet's atomic `..data` swap) for
 * the server config, the JWT mount and the TLS dir, through main.ts and a real nats-server. One
 * supervisor serves every step; each step waits for its own effect.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { makeAccounts } from "../dev/bulk_jwt.ts";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { kubeletWrite } from "../dev/kubelet.ts";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";
import { accountsConfigText, serverConfigText } from "../dev/dev_setup.ts";

const RELOADED = /Reloaded server configuration/;
const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;

Deno.test("kubelet-style volumes: every swap is applied, and nothing else is", async (t) => {
  await using setup = await tempSetup();
  const configVolume = join(setup.dir, "config-vol");
  const tlsVolume = join(setup.dir, "certs-vol");
  const configFiles = (maxConnections: number) => ({
    "server.conf": `${serverConfigText(setup)}max_connections: ${maxConnections}\n`,
    "accounts.conf": accountsConfigText(setup),
  });
  await kubeletWrite(configVolume, configFiles(1000));
  await kubeletWrite(tlsVolume, { "tls.crt": "cert 0", "tls.key": "key 0" });
  await Deno.remove(setup.mountDir, { recursive: true });
  await kubeletWrite(setup.mountDir, { [`${setup.demo.pub}.jwt`]: setup.demo.jwt + "\n" });

  await using run = runSupervisor({
    env: {
      ...setup.env,
      NATS_CONF: join(configVolume, "server.conf"),
      NATS_ACCOUNTS: join(configVolume, "accounts.conf"),
      NATS_SSL_DIR: tlsVolume,
      POT_NATS_LOG_LEVEL: "debug",
    },
  });
  await run.waitForLine(/watching for changes/);
  await run.waitForLine(/change pass: no content changed/);
  // The demo account's current JWT: mounting an older one would be kept out (older iat).
  let demoJwt = setup.demo.jwt;
  const varz = () => monitor<{ max_connections: number }>(setup.options.monitorPort, "varz");

  await t.step("five config swaps are each applied", async () => {
    for (let i = 1; i <= 5; i++) {
      await kubeletWrite(configVolume, configFiles(1000 + i));
      await pollUntil(
        `max_connections ${1000 + i}`,
        async () => (await varz()).max_connections === 1000 + i,
      );
    }
    assert.equal(run.count(RELOADED), 5, run.transcript());
  });

  await t.step("five JWT mount swaps each mirror the new JWT, with no reload", async () => {
    const reloads = run.count(RELOADED);
    const client = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
    const resolverFile = join(setup.jwtDir, `${setup.demo.pub}.jwt`);
    for (let i = 1; i <= 5; i++) {
      const updated = await makeAccount(setup.operator, {
        name: "demo",
        key: setup.demo.kp,
        limits: { subs: 100 + i },
      });
      await kubeletWrite(setup.mountDir, { [`${setup.demo.pub}.jwt`]: updated.jwt + "\n" });
      demoJwt = updated.jwt;
      await pollUntil(
        `the resolver copy of swap ${i}`,
        async () => (await Deno.readTextFile(resolverFile)) === updated.jwt,
      );
    }
    const mode = (await Deno.stat(resolverFile)).mode! & 0o777;
    assert.equal(mode, 0o600);
    await run.waitForLine(/no reload needed: JWT changes are applied by the claims push/);
    assert.equal(run.count(RELOADED), reloads, "a JWT change never SIGHUPs nats-server");
    assert.equal(client.isClosed(), false, "connected clients stay connected");
    await client.close();
  });

  await t.step("five TLS dir swaps each reload the server", async () => {
    const before = run.count(RELOADED);
    for (let i = 1; i <= 5; i++) {
      await kubeletWrite(tlsVolume, { "tls.crt": `cert ${i}`, "tls.key": `key ${i}` });
      await pollUntil(`reload ${i}`, () => run.count(RELOADED) >= before + i);
    }
    assert.equal(run.count(RELOADED), before + 5);
  });

  await t.step("touch, chmod and an identical re-render do not reload", async () => {
    const before = run.count(RELOADED);
    const from = run.lines.length;
    const now = new Date();
    await Deno.utime(join(configVolume, "server.conf"), now, now);
    await Deno.chmod(join(tlsVolume, "tls.key"), 0o640);
    await kubeletWrite(configVolume, configFiles(1005)); // same bytes as the last swap
    await run.waitForLine(/change pass: no content changed/, { from });
    // A real change afterwards is the marker that every earlier event has been handled.
    await kubeletWrite(tlsVolume, { "tls.crt": "cert marker", "tls.key": "key marker" });
    await pollUntil("the marker reload", () => run.count(RELOADED) === before + 1);
    assert.equal(run.count(RELOADED), before + 1);
  });

  await t.step("a burst of 1000 new JWTs is one mirror pass and one push", async () => {
    const files: Record<string, string> = { [`${setup.demo.pub}.jwt`]: demoJwt };
    for (const account of await makeAccounts(setup.operator, 1000, { namePrefix: "burst" })) {
      files[`${account.pub}.jwt`] = account.jwt;
    }
    const reloadsBefore = run.count(RELOADED);
    const mirrorsBefore = run.count(/JWT mirror applied/);
    await kubeletWrite(setup.mountDir, files);
    const pushesBefore = run.count(PUSHED);
    const applied = await run.waitForLine(/JWT mirror applied added=1000 changed=0 /, {
      timeoutMs: 30_000,
    });
    assert.match(applied, /failed=0/);
    await run.waitForLine(/pushed account JWTs to the server accounts=1000 failed=0/);
    const marker = run.lines.length;
    await kubeletWrite(tlsVolume, { "tls.crt": "after burst", "tls.key": "after burst" });
    await run.waitForLine(/reloaded its configuration causes=tls/, { from: marker });
    assert.equal(run.count(/JWT mirror applied/), mirrorsBefore + 1);
    assert.equal(run.count(PUSHED), pushesBefore + 1);
    assert.equal(run.count(RELOADED), reloadsBefore + 1, "only the marker's TLS change reloaded");
    const resolved = [...Deno.readDirSync(setup.jwtDir)].map((e) => e.name);
    assert.equal(
      resolved.filter((name) => name.endsWith(".jwt")).length,
      1002,
      "1000 + demo + SYS",
    );
    assert.ok(resolved.includes(`${setup.system.pub}.jwt`), "the system account's JWT is kept");
  });

  await t.step(
    "an invalid config is not applied; the server keeps serving; a fix applies",
    async () => {
      const reloads = run.count(RELOADED);
      await kubeletWrite(configVolume, {
        ...configFiles(2000),
        "server.conf": `${serverConfigText(setup)}max_connections: {{{\n`,
      });
      await run.waitForLine(/the changed config is invalid; not applied/);
      assert.equal((await varz()).max_connections, 1005);
      assert.equal(run.count(RELOADED), reloads);
      await kubeletWrite(configVolume, configFiles(2000));
      await pollUntil("the fixed config", async () => (await varz()).max_connections === 2000);
    },
  );
});
