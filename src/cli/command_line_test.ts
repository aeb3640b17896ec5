import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "./command_line.ts";

Deno.test("command line", async (t) => {
  await t.step("no arguments runs the supervisor", () => {
    assert.deepEqual(parseCommandLine([]), {
      command: "run",
      serverArgs: [],
      ready: false,
      json: false,
    });
  });
  await t.step("arguments after -- go to nats-server untouched", () => {
    assert.deepEqual(parseCommandLine(["--", "-DV", "--check", "healthcheck"]), {
      command: "run",
      serverArgs: ["-DV", "--check", "healthcheck"],
      ready: false,
      json: false,
    });
  });
  await t.step("each command is recognised", () => {
    assert.equal(parseCommandLine(["--help"]).command, "help");
    assert.equal(parseCommandLine(["-h"]).command, "help");
    assert.equal(parseCommandLine(["--version"]).command, "version");
    assert.equal(parseCommandLine(["--check"]).command, "check");
    assert.equal(parseCommandLine(["healthcheck"]).command, "healthcheck");
    assert.equal(parseCommandLine(["status"]).command, "status");
  });
  await t.step("healthcheck takes --ready, status takes --json, and nothing else does", () => {
    assert.equal(parseCommandLine(["healthcheck", "--ready"]).ready, true);
    assert.equal(parseCommandLine(["status", "--json"]).json, true);
    assert.throws(() => parseCommandLine(["--ready"]), /--ready goes with healthcheck/);
    assert.throws(() => parseCommandLine(["healthcheck", "--json"]), /--json goes with status/);
  });
  await t.step("an unknown flag or word is a usage error naming it", () => {
    assert.throws(() => parseCommandLine(["--frobnicate"]), UsageError);
    assert.throws(() => parseCommandLine(["-DV"]), UsageError);
    assert.throws(() => parseCommandLine(["start"]), /unknown command "start"/);
  });
  await t.step("two commands at once are refused", () => {
    assert.throws(() => parseCommandLine(["--check", "--version"]), /choose one/);
  });
});
