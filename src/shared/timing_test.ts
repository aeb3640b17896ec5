import assert from "node:assert/strict";
import { pause, settledWithin } from "./timing.ts";

Deno.test("pause ends at its time, or at once on abort; settledWithin races a deadline", async (t) => {
  await t.step("pause waits about ms", async () => {
    const started = performance.now();
    await pause(30);
    assert.ok(performance.now() - started >= 25);
  });
  await t.step("an aborted pause resolves at once, without rejecting", async () => {
    const abort = new AbortController();
    const started = performance.now();
    const waiting = pause(60_000, abort.signal);
    abort.abort();
    await waiting;
    assert.ok(performance.now() - started < 1000);
  });
  await t.step("a promise that settles in time: true, rejected or not", async () => {
    assert.equal(await settledWithin(Promise.resolve(1), 1000), true);
    assert.equal(await settledWithin(Promise.reject(new Error("x")), 1000), true);
  });
  await t.step("one that does not: false, after about ms, with no timer left behind", async () => {
    const started = performance.now();
    assert.equal(await settledWithin(new Promise(() => {}), 30), false);
    assert.ok(performance.now() - started >= 25);
    // Deno's test sanitizer fails this step if a timer were still pending.
  });
});
