/**
 * Counters, gauges and histograms in Prometheus's text exposition format (version 0.0.4): the few
 * kinds the supervisor's metrics need, without a client library (which cost ~45 ms of start-up and
 * a few MB of memory for features unused here).
 *
 * Label values are escaped as the format asks (backslash, double quote, line feed), and so is help
 * text (backslash, line feed). A metric without labels exists from the start at 0; a labelled one
 * has a series for each label set it was given.
 *
 * @module
 */

/** The `Content-Type` of the exposition. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels<L extends string> = Partial<Record<L, string | number>>;

interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** Called before each exposition, to set the value (process metrics). */
  collect?: () => number;
}

/** What every metric kind offers the registry. */
interface Exposable {
  readonly name: string;
  /** The lines of this metric, `# HELP` and `# TYPE` first. */
  lines(): string[];
}

/** The metrics of one exposition. */
export class Registry {
  readonly #metrics: Exposable[] = [];

  /** Adds a metric. @throws when one of the same name is registered already */
  register<M extends Exposable>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name)) {
      throw new Error(`metric ${metric.name} is registered twice`);
    }
    this.#metrics.push(metric);
    return metric;
  }

  /** The names of the registered metrics, in registration order. */
  get names(): string[] {
    return this.#metrics.map((metric) => metric.name);
  }

  /** The exposition: every metric, in registration order, ending with a line feed. */
  text(): string {
    return this.#metrics.flatMap((metric) => metric.lines()).join("\n") + "\n";
  }
}

/** One value per label set. */
abstract class Scalar<L extends string> implements Exposable {
  readonly name: string;
  readonly #help: string;
  readonly #labelNames: readonly L[];
  readonly #collect: (() => number) | undefined;
  readonly #values = new Map<string, { labels: Labels<L>; value: number }>();
  abstract readonly type: "counter" | "gauge";

  constructor(options: MetricOptions<L>) {
    this.name = options.name;
    this.#help = options.help;
    this.#labelNames = options.labelNames ?? [];
    this.#collect = options.collect;
    if (this.#labelNames.length === 0) this.#values.set(seriesKey({}), { labels: {}, value: 0 });
  }

  /** Every series with its labels and value (for tests). */
  get(): { values: { labels: Labels<L>; value: number }[] } {
    return { values: [...this.#values.values()].map((v) => ({ ...v })) };
  }

  /** Drops every series (a metric without labels goes back to 0). */
  reset(): void {
    this.#values.clear();
    if (this.#labelNames.length === 0) this.#values.set(seriesKey({}), { labels: {}, value: 0 });
  }

  lines(): string[] {
    if (this.#collect) this.setValue({}, this.#collect());
    const lines = [
      `# HELP ${this.name} ${escapeHelp(this.#help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    for (const { labels, value } of this.#values.values()) {
      lines.push(`${this.name}${labelText(labels)} ${formatNumber(value)}`);
    }
    return lines;
  }

  protected setValue(labels: Labels<L>, value: number): void {
    this.#values.set(seriesKey(labels), { labels, value });
  }

  protected addValue(labels: Labels<L>, delta: number): void {
    const key = seriesKey(labels);
    const series = this.#values.get(key);
    if (series) series.value += delta;
    else this.#values.set(key, { labels, value: delta });
  }
}

export class Counter<L extends string = never> extends Scalar<L> {
  readonly type = "counter";

  /** Adds `value` (default 1; 0 creates the series). @throws for a negative value */
  inc(labels: Labels<L> | number = {}, value = 1): void {
    if (typeof labels === "number") [labels, value] = [{}, labels];
    if (!(value >= 0)) throw new RangeError(`${this.name}: a counter only goes up, got ${value}`);
    this.addValue(labels, value);
  }
}

export class Gauge<L extends string = never> extends Scalar<L> {
  readonly type = "gauge";

  set(labels: Labels<L> | number, value?: number): void {
    if (typeof labels === "number") this.setValue({}, labels);
    else this.setValue(labels, value ?? 0);
  }
}

/** Observations counted into cumulative buckets (`le`), with their sum and count, per label set. */
export class Histogram<L extends string = never> implements Exposable {
  readonly name: string;
  readonly #help: string;
  readonly #buckets: number[];
  readonly #series = new Map<
    string,
    { labels: Labels<L>; counts: number[]; sum: number; count: number }
  >();

  constructor(options: MetricOptions<L> & { buckets: number[] }) {
    this.name = options.name;
    this.#help = options.help;
    this.#buckets = [...options.buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    const key = seriesKey(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    for (const [index, bound] of this.#buckets.entries()) {
      if (value <= bound) series.counts[index]!++;
    }
    series.sum += value;
    series.count++;
  }

  lines(): string[] {
    const lines = [
      `# HELP ${this.name} ${escapeHelp(this.#help)}`,
      `# TYPE ${this.name} histogram`,
    ];
    for (const series of this.#series.values()) {
      const { count } = series;
      for (const [index, bound] of this.#buckets.entries()) {
        const labels = labelText({ le: formatNumber(bound), ...series.labels });
        lines.push(`${this.name}_bucket${labels} ${series.counts[index]}`);
      }
      lines.push(`${this.name}_bucket${labelText({ le: "+Inf", ...series.labels })} ${count}`);
      lines.push(`${this.name}_sum${labelText(series.labels)} ${formatNumber(series.sum)}`);
      lines.push(`${this.name}_count${labelText(series.labels)} ${count}`);
    }
    return lines;
  }
}

function seriesKey(labels: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function labelText(labels: Record<string, unknown>): string {
  const pairs = Object.entries(labels).map(([name, value]) =>
    `${name}="${escapeLabelValue(String(value))}"`
  );
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Help text escapes backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
