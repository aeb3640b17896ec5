import assert from "node:assert/strict";
import { decideReadiness, LIST_MAX, RECENT_MAX, StatusBoard } from "./status.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");

function board(now = T0): StatusBoard {
  return new StatusBoard({ now: () => now });
}

Deno.test("readiness: what keeps a pod out of its Service, and what does not", async (t) => {
  await t.step("nats-server not running: not ready", () => {
    assert.deepEqual(decideReadiness(board(), undefined), {
      ready: false,
      reason: "nats-server is not running",
    });
  });
  const running = () => {
    const b = board();
    b.serverStarted(42);
    return b;
  };
  await t.step("nats-server unhealthy: not ready, with its words", () => {
    assert.deepEqual(decideReadiness(running(), { ok: false, reason: "503 js not ready" }), {
      ready: false,
      reason: "nats-server is not healthy: 503 js not ready",
    });
  });
  await t.step("before the first mirror: not ready", () => {
    assert.match(
      (decideReadiness(running(), { ok: true, reason: "" }) as { reason: string }).reason,
      /first JWT mirror/,
    );
  });
  const mirrored = () => {
    const b = running();
    b.mirrorRun({ accounts: 1, rejected: [], repaired: 0, nextExpiry: undefined, expiring: [] });
    return b;
  };
  await t.step("no admin connection configured: ready once mirrored", () => {
    assert.deepEqual(decideReadiness(mirrored(), undefined), { ready: true });
  });
  await t.step("admin configured, push not attempted: not ready", () => {
    const b = mirrored();
    b.adminState("connecting");
    assert.match(
      (decideReadiness(b, undefined) as { reason: string }).reason,
      /first push of the account JWTs has not been attempted/,
    );
  });
  await t.step("a push attempted, even one that failed: ready", () => {
    const b = mirrored();
    b.adminState("up");
    b.pushDone({ accounts: 3, failed: 3, error: "no responders" });
    assert.deepEqual(decideReadiness(b, undefined), { ready: true });
  });
  await t.step("wrong admin creds: ready (an alert, not an outage)", () => {
    const b = mirrored();
    b.adminState("connecting");
    b.adminProblem("the admin creds are not a system account user's");
    assert.deepEqual(decideReadiness(b, undefined), { ready: true });
  });
  await t.step("a restart in progress still counts as running", () => {
    const b = mirrored();
    b.serverState("restarting");
    assert.deepEqual(decideReadiness(b, undefined), { ready: true });
  });
});

Deno.test("status: bounded lists, clipped texts, times and restarts", () => {
  let now = T0;
  const b = new StatusBoard({ now: () => now });
  for (let i = 0; i < RECENT_MAX + 5; i++) b.recordLine("warn", `w${i}`);
  b.mirrorRun({
    accounts: 5,
    rejected: Array.from({ length: LIST_MAX + 10 }, (_, i) => ({
      file: `f${i}.jwt`,
      reason: "x".repeat(5000),
    })),
    repaired: 2,
    nextExpiry: T0 / 1000 + 3600,
    expiring: [],
  });
  b.purgePlanned({ pending: [{ account: "A1", dueAt: T0 + 30_500 }], refused: "y".repeat(5000) });
  b.serverStarted(7);
  b.serverState("restarting");
  b.serverStarted(8);
  now = T0 + 61_000;
  const doc = b.snapshot();
  assert.equal(doc.recent.length, RECENT_MAX);
  assert.equal(doc.recent[0]!.message, "w5");
  assert.equal(doc.mirror.rejected_count, LIST_MAX + 10);
  assert.equal(doc.mirror.rejected.length, LIST_MAX);
  assert.ok(doc.mirror.rejected[0]!.reason.length < 300);
  assert.ok(doc.purge.last_refusal!.reason.length < 1100);
  assert.equal(doc.mirror.next_expiry, "2026-12-01T11:00:00.000Z");
  assert.deepEqual(doc.purge.pending, [
    { account: "A1", due: "2026-12-01T10:00:30.500Z", seconds_left: 0 },
  ]);
  assert.deepEqual(
    { pid: doc.server.pid, restarts: doc.server.restarts, uptime: doc.server.uptime_seconds },
    { pid: 8, restarts: 1, uptime: 61 },
  );
});
