/** findStoreDir against a real nats-server, one source at a time. */

import assert from "node:assert/strict";
import { ServerView } from "../config/server_view.ts";
import { join } from "node:path";
import { findStoreDir } from "./store_dir.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { freePort } from "../../dev/ports.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

Deno.test("the store dir comes from each source in turn", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  const nc = await connectWithCreds(server.url, setup.sysUser.creds);
  const closedPort = freePort();
  try {
    await t.step("NATS_JETSTREAM_STORE_DIR wins over everything", async () => {
      const result = await findStoreDir({
        setting: "/elsewhere/js",
        monitorPort: setup.options.monitorPort,
        nc,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: "/elsewhere/js", source: "setting" });
    });

    await t.step("the monitor port's /varz, without the jetstream level", async () => {
      const result = await findStoreDir({
        setting: "",
        monitorPort: setup.options.monitorPort,
        nc,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: setup.storeDir, source: "monitor" });
    });

    await t.step("the system account when the monitor does not answer", async () => {
      const result = await findStoreDir({
        monitorPort: closedPort,
        nc,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: setup.storeDir, source: "system account" });
    });

    await t.step("the config when neither the monitor nor a connection is there", async () => {
      const result = await findStoreDir({
        monitorPort: 0,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: setup.storeDir, source: "config" });
    });

    await t.step("the config resolves a relative store dir against its own dir", async () => {
      const confPath = join(setup.dir, "config", "relative.conf");
      await Deno.writeTextFile(confPath, `jetstream { store_dir: "./js" }\n`);
      const result = await findStoreDir({
        monitorPort: 0,
        config: () => ServerView.read(confPath),
      });
      assert.deepEqual(result, { dir: join(setup.dir, "config", "js"), source: "config" });
    });
  } finally {
    await nc.close();
  }
});

Deno.test("a server without JetStream has no store dir, whoever answers", async (t) => {
  await using setup = await tempSetup();
  const conf = await Deno.readTextFile(setup.confPath);
  const withoutJetStream = conf.replace(/^jetstream .*$/m, "");
  assert.notEqual(withoutJetStream, conf);
  await Deno.writeTextFile(setup.confPath, withoutJetStream);
  await using server = await startNatsServer(setup);
  const nc = await connectWithCreds(server.url, setup.sysUser.creds);
  try {
    await t.step("monitor", async () => {
      const result = await findStoreDir({
        monitorPort: setup.options.monitorPort,
        nc,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: null, source: "monitor" });
    });
    await t.step("system account", async () => {
      const result = await findStoreDir({
        monitorPort: 0,
        nc,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: null, source: "system account" });
    });
    await t.step("config", async () => {
      const result = await findStoreDir({
        monitorPort: 0,
        config: () => ServerView.read(setup.confPath),
      });
      assert.deepEqual(result, { dir: null, source: "config" });
    });
  } finally {
    await nc.close();
  }
});
