import assert from "node:assert/strict";
import { join } from "node:path";
import { createDevSetup } from "../dev/dev_setup.ts";
import { DEMO_SERVER_NAME, openDemoFolder, openDemoForRun, signingKeyPath } from "./demo_setup.ts";

Deno.test("demo folder: one from an older demo is brought in step, keys and all kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-demo-setup-" });
  try {
    // As an older demo left it: no signing key file, its own ports in the config.
    const older = await createDevSetup(dir, {
      clientPort: 14222,
      monitorPort: 18222,
      httpPort: 18223,
      serverBin: "nats-server",
      serverName: DEMO_SERVER_NAME,
    });
    const location = { dir, clientPort: 24222, monitorPort: 28222, httpPort: 28223 };
    const setup = await openDemoForRun(location, "nats-server");
    assert.equal(setup.operator.pub, older.operator.pub);
    assert.match(await Deno.readTextFile(setup.confPath), /^port: 24222$/m);
    const keyFile = signingKeyPath(setup);
    assert.equal((await Deno.readTextFile(keyFile)).trim(), older.operator.signingKey!.seed);
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);

    // A follow-up command finds the port in the folder's config, whatever its own defaults.
    const followUp = await openDemoFolder({
      dir,
      clientPort: 14222,
      monitorPort: 18222,
      httpPort: 18223,
    });
    assert.equal(followUp.clientUrl, "nats://127.0.0.1:24222");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo folder: a follow-up without a demo says how to start one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-demo-setup-" });
  try {
    await assert.rejects(
      openDemoFolder({
        dir: join(dir, "none"),
        clientPort: 14222,
        monitorPort: 18222,
        httpPort: 18223,
      }),
      /no demo in .*none\/; start one first: POT_NATS_DEMO_DIR=.*none (deno|npx -y deno@[\d.]+) task demo$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
