import assert from "node:assert/strict";
import { StatusBoard } from "../report/status.ts";
import { formatStatus } from "./status_command.ts";

Deno.test("pot-nats status: a few aligned lines from the status document", () => {
  const now = Date.parse("2026-12-01T10:00:00Z");
  const board = new StatusBoard({ now: () => now });
  board.setVersions("0.1.0", "2.10.27");
  board.serverStarted(42);
  board.passDone({ at: "2026-12-01T10:00:00.000Z", ms: 14, causes: ["jwt"], did: ["mirrored"] });
  board.mirrorRun({
    accounts: 3,
    rejected: [{ file: "x.jwt", reason: "expired at 2026-01-01T00:00:00.000Z" }],
    repaired: 0,
    nextExpiry: undefined,
    expiring: [],
  });
  board.adminState("up");
  board.pushDone({ accounts: 3, failed: 0 });
  board.recordLine("warn", "something odd");
  assert.equal(
    formatStatus(board.snapshot(), "ready"),
    [
      "versions   pot-nats 0.1.0, nats-server 2.10.27",
      "server     running, pid 42, up 0s, 0 restarts",
      "ready      ready",
      "last pass  2026-12-01T10:00:00.000Z, 14 ms: jwt: mirrored",
      "mirror     3 accounts in the resolver dir, 1 rejected (x.jwt: expired at 2026-01-01T00:00:00.000Z)",
      "admin      up; last push 2026-12-01T10:00:00.000Z: 3 accounts, 0 failed",
      "purge      0 pending",
      "recent     1 warnings/errors; last 2026-12-01T10:00:00.000Z: something odd",
    ].join("\n"),
  );
});

Deno.test("pot-nats status: a mounted file's name and a reason are printed escaped", () => {
  const board = new StatusBoard({ now: () => Date.parse("2026-12-01T10:00:00Z") });
  board.mirrorRun({
    accounts: 1,
    rejected: [{ file: "\x1b[2Jx\n.jwt", reason: "sub \u202eevil\r does not match" }],
    repaired: 0,
    nextExpiry: undefined,
    expiring: [],
  });
  const text = formatStatus(board.snapshot(), "ready");
  assert.equal(text.split("\n").length, 8, "one line per row");
  for (const raw of ["\x1b", "\r", "\u202e"]) assert.ok(!text.includes(raw), JSON.stringify(raw));
  assert.match(text, /\\x1b\[2Jx\\n\.jwt/);
});
