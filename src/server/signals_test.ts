import assert from "node:assert/strict";
import { decideSignal } from "./signals.ts";

Deno.test("signal decisions", async (t) => {
  const idle = { lameDuck: false, stopping: false };
  await t.step("SIGTERM stops nats-server with SIGINT so every version exits 0", () => {
    assert.deepEqual(decideSignal("SIGTERM", idle), { kind: "stop", send: "SIGINT" });
  });
  await t.step("SIGTERM with lame duck on sends SIGUSR2 first", () => {
    assert.deepEqual(decideSignal("SIGTERM", { lameDuck: true, stopping: false }), {
      kind: "stop",
      send: "SIGUSR2",
    });
  });
  await t.step("a second SIGTERM during a lame-duck stop escalates to SIGINT", () => {
    assert.deepEqual(decideSignal("SIGTERM", { lameDuck: true, stopping: true }), {
      kind: "stop",
      send: "SIGINT",
    });
  });
  await t.step("SIGINT and SIGQUIT stop with themselves", () => {
    assert.deepEqual(decideSignal("SIGINT", idle), { kind: "stop", send: "SIGINT" });
    assert.deepEqual(decideSignal("SIGQUIT", idle), { kind: "stop", send: "SIGQUIT" });
  });
  await t.step("SIGHUP, SIGUSR1 and SIGUSR2 are passed on as they are", () => {
    for (const signal of ["SIGHUP", "SIGUSR1", "SIGUSR2"] as const) {
      assert.deepEqual(decideSignal(signal, idle), { kind: "forward", send: signal });
    }
  });
});
