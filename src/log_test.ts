import assert from "node:assert/strict";
import { createLogger, redact } from "./log.ts";

const NOW = () => new Date("2026-11-22T10:00:00.000Z");

function capture(level: "debug" | "info" | "warn" | "error", format: "text" | "json") {
  const lines: string[] = [];
  const log = createLogger({ level, format, now: NOW, write: (line) => lines.push(line) });
  return { log, lines };
}

Deno.test("log: text lines carry time, level, message and fields on one line", () => {
  const { log, lines } = capture("info", "text");
  log.info("nats-server started", { pid: 42, args: "-c /x y" });
  assert.deepEqual(lines, [
    '[pot-nats] 2026-11-22T10:00:00.000Z INF nats-server started pid=42 args="-c /x y"',
  ]);
});

Deno.test("log: json lines are one object each", () => {
  const { log, lines } = capture("info", "json");
  log.warn("two\nlines", { error: new Error("boom\nbang") });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-22T10:00:00.000Z",
    level: "warn",
    msg: "two\nlines",
    error: "boom | bang",
  });
});

Deno.test("log: levels below the threshold are dropped", () => {
  const { log, lines } = capture("warn", "text");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, / WRN w$/);
  assert.match(lines[1]!, / ERR e$/);
});

Deno.test("log: a seed or a JWT never reaches a line", () => {
  const seed = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4";
  const jwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkMifQ.c2lnbmF0dXJlX2J5dGVz";
  const { log, lines } = capture("debug", "text");
  log.error(`bad creds ${seed}`, { jwt, nested: { seed } });
  assert.doesNotMatch(lines[0]!, /SUAIBDPB|eyJ0eXAi/);
  assert.equal(redact(`x ${seed} y`), "x [redacted] y");
});
