import assert from "node:assert/strict";
import { Counter, escapeLabelValue, Gauge, Histogram, Registry } from "./prometheus.ts";

Deno.test("prometheus exposition", async (t) => {
  await t.step("counters and gauges: HELP, TYPE, one line per series; no labels means 0", () => {
    const registry = new Registry();
    const plain = registry.register(new Counter({ name: "a_total", help: "As" }));
    const byCause = registry.register(
      new Counter<"cause">({ name: "b_total", help: "Bs", labelNames: ["cause"] }),
    );
    const gauge = registry.register(new Gauge({ name: "c", help: "C" }));
    byCause.inc({ cause: "jwt" }, 0);
    byCause.inc({ cause: "tls" });
    byCause.inc({ cause: "tls" }, 2);
    gauge.set(1.5);
    assert.equal(
      registry.text(),
      [
        "# HELP a_total As",
        "# TYPE a_total counter",
        "a_total 0",
        "# HELP b_total Bs",
        "# TYPE b_total counter",
        'b_total{cause="jwt"} 0',
        'b_total{cause="tls"} 3',
        "# HELP c C",
        "# TYPE c gauge",
        "c 1.5",
        "",
      ].join("\n"),
    );
    plain.inc();
    assert.deepEqual(plain.get().values, [{ labels: {}, value: 1 }]);
  });

  await t.step("a label set is one series whatever the order of its labels", () => {
    const counter = new Counter<"a" | "b">({ name: "x_total", help: "X", labelNames: ["a", "b"] });
    counter.inc({ a: "1", b: "2" });
    counter.inc({ b: "2", a: "1" });
    assert.deepEqual(counter.get().values, [{ labels: { a: "1", b: "2" }, value: 2 }]);
  });

  await t.step("a counter refuses to go down; reset() drops every series", () => {
    const counter = new Counter<"a">({ name: "y_total", help: "Y", labelNames: ["a"] });
    assert.throws(() => counter.inc({ a: "1" }, -1), /a counter only goes up/);
    counter.inc({ a: "1" });
    counter.reset();
    assert.deepEqual(counter.get().values, []);
  });

  await t.step("label values and help text are escaped", () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const registry = new Registry();
    registry.register(new Gauge<"v">({ name: "g", help: "line\none \\", labelNames: ["v"] }))
      .set({ v: 'x"y' }, 1);
    assert.equal(registry.text(), '# HELP g line\\none \\\\\n# TYPE g gauge\ng{v="x\\"y"} 1\n');
  });

  await t.step("histograms: cumulative buckets, +Inf, sum and count per label set", () => {
    const registry = new Registry();
    const histogram = registry.register(
      new Histogram<"cause">({
        name: "h_seconds",
        help: "H",
        buckets: [0.1, 1],
        labelNames: ["cause"],
      }),
    );
    histogram.observe({ cause: "jwt" }, 0.05);
    histogram.observe({ cause: "jwt" }, 0.5);
    histogram.observe({ cause: "jwt" }, 5);
    assert.equal(
      registry.text(),
      [
        "# HELP h_seconds H",
        "# TYPE h_seconds histogram",
        'h_seconds_bucket{le="0.1",cause="jwt"} 1',
        'h_seconds_bucket{le="1",cause="jwt"} 2',
        'h_seconds_bucket{le="+Inf",cause="jwt"} 3',
        'h_seconds_sum{cause="jwt"} 5.55',
        'h_seconds_count{cause="jwt"} 3',
        "",
      ].join("\n"),
    );
  });

  await t.step("collect() sets the value at each exposition; names are unique", () => {
    const registry = new Registry();
    let value = 1;
    registry.register(new Gauge({ name: "p", help: "P", collect: () => value }));
    assert.match(registry.text(), /^p 1$/m);
    value = 2;
    assert.match(registry.text(), /^p 2$/m);
    assert.throws(() => registry.register(new Gauge({ name: "p", help: "P" })), /twice/);
    assert.deepEqual(registry.names, ["p"]);
  });
});
