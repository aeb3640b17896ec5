/**
 * The examples stay in step with the code: the Grafana dashboard uses only metrics the supervisor
 * serves, and covers what the observability issue asked of it.
 */

import assert from "node:assert/strict";
import { Metrics } from "../src/report/metrics.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("the Grafana dashboard asks only for metrics the supervisor serves", async () => {
  const dashboard = JSON.parse(
    await Deno.readTextFile(new URL("examples/grafana/pot-nats.json", ROOT)),
  ) as { panels: { title: string; targets: { expr: string }[] }[] };
  const served = new Set(
    new Metrics().registry.names,
  );
  const asked = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr))
    .flatMap((expr) => [...expr.matchAll(/\b(pot_nats_[a-z_]+|process_[a-z_]+|nodejs_[a-z_]+)/g)])
    .map((match) => match[1]!.replace(/_(bucket|sum|count)$/, ""));
  assert.ok(asked.length > 10);
  for (const name of asked) assert.ok(served.has(name), `${name} is not served`);
  const titles = dashboard.panels.map((panel) => panel.title.toLowerCase()).join("\n");
  for (const topic of ["reaction", "reloads", "pushes", "rejected", "purges", "admin", "memory"]) {
    assert.ok(titles.includes(topic), `no panel on ${topic}`);
  }
});
