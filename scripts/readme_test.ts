/**
 * The README says what the code does: its settings table, exit status table, task table and the
 * demo's life cycle are checked against the tables and text the code itself uses.
 */

import assert from "node:assert/strict";
import denoConfig from "../deno.json" with { type: "json" };
import { EXIT_STATUSES } from "../src/cli/command_line.ts";
import { SETTING_DOCS } from "../src/cli/settings.ts";
import { bannerText } from "./demo_text.ts";

const README = Deno.readTextFileSync(new URL("../README.md", import.meta.url));

/** The cells of each table row whose first cell matches `pattern`, backticks removed. */
function rows(pattern: RegExp): string[][] {
  return README.split("\n").filter((line) => line.startsWith("| ")).map((line) =>
    line.slice(1, -1).split(" | ").map((cell) => cell.trim().replaceAll("`", ""))
  ).filter(([first]) => pattern.test(first!));
}

Deno.test("README: the settings table gives each setting the default --help gives", () => {
  const table = new Map(rows(/^(NATS|POT_NATS)_[A-Z_]+$/).map(([name, value]) => [name, value]));
  for (const doc of SETTING_DOCS) {
    assert.equal(table.get(doc.name), doc.defaultText, doc.name);
  }
  assert.deepEqual([...table.keys()], SETTING_DOCS.map((doc) => doc.name));
});

Deno.test("README: the exit status table is the one --help prints", () => {
  assert.deepEqual(rows(/^(\d+|128\+n)$/), EXIT_STATUSES.map((s) => [s.status, s.meaning]));
});

Deno.test("README: the task table names every task", () => {
  const named = rows(/^deno task /).map(([task]) => task!.split(" ")[2]);
  assert.deepEqual(named.toSorted(), Object.keys(denoConfig.tasks).toSorted());
});

Deno.test("README: the demo's life cycle is the banner's", () => {
  const banner = bannerText({
    form: { runner: "deno", env: {} },
    dir: ".demo",
    clientUrl: "nats://127.0.0.1:14222",
    monitorPort: 18222,
    httpPort: 18223,
    serverVersion: "2.15.1",
    graceSeconds: 10,
    account: "orders",
  });
  const commands = banner.split("\n").filter((line) => line.includes(" task demo:"))
    .map((line) => line.replace(/\s+#.*$/, "").trim());
  const readme = README.split("\n").filter((line) => line.startsWith("deno task demo:"))
    .map((line) => line.replace(/\s+#.*$/, "").trim());
  assert.deepEqual(readme, commands);
});
