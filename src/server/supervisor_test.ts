import assert from "node:assert/strict";
import { silentLogger } from "../shared/log.ts";
import type { ChildHandle } from "./server_process.ts";
import { parseSettings } from "../cli/settings.ts";
import { Supervisor } from "./supervisor.ts";

/** A child that has already exited with `code`: the supervisor's run ends at once. */
function exitedChild(code: number): ChildHandle {
  return {
    pid: 1,
    status: Promise.resolve({ success: code === 0, code, signal: null }),
    kill() {},
  };
}

Deno.test("the supervisor exits with the child's status even if a companion's close hangs", async () => {
  const conf = await Deno.makeTempFile();
  try {
    const settings = parseSettings({ NATS_CONF: conf, POT_NATS_CONF_WAIT_SECONDS: "0" }, "/");
    const supervisor = new Supervisor({
      settings,
      log: silentLogger,
      extraArgs: [],
      spawn: () => exitedChild(3),
      companion: { close: () => new Promise(() => {}) }, // never settles
      findPortInUse: () => Promise.resolve(undefined),
    });
    assert.equal(await supervisor.run(), 3);
  } finally {
    await Deno.remove(conf);
  }
});

Deno.test("the supervisor refuses to start, touching nothing, when its ports are in use", async () => {
  const conf = await Deno.makeTempFile();
  try {
    const settings = parseSettings({ NATS_CONF: conf, POT_NATS_CONF_WAIT_SECONDS: "0" }, "/");
    const touched: string[] = [];
    const supervisor = new Supervisor({
      settings,
      log: silentLogger,
      extraArgs: [],
      spawn: () => {
        touched.push("spawn");
        return exitedChild(0);
      },
      companion: {
        beforeStart: () => Promise.resolve(void touched.push("beforeStart")),
        start: () => void touched.push("start"),
      },
      findPortInUse: () => Promise.resolve("something already listens on 127.0.0.1:4222"),
    });
    assert.equal(await supervisor.run(), 1);
    assert.deepEqual(touched, []);
  } finally {
    await Deno.remove(conf);
  }
});
