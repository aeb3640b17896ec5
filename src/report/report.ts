/**
 * What the supervisor reports besides its log: its metrics and its status, made once in main.ts
 * and passed to every feature that has something to report. A feature given none reports into a
 * private one nobody reads (tests and tools need not make one).
 *
 * @module
 */

import { Metrics, type MetricsOptions } from "./metrics.ts";
import { StatusBoard } from "./status.ts";

export class Report {
  readonly metrics: Metrics;
  readonly status: StatusBoard;

  constructor(options: MetricsOptions & { now?: () => number } = {}) {
    this.metrics = new Metrics(options);
    this.status = new StatusBoard(options.now ? { now: options.now } : {});
  }

  /** A report for a feature used on its own: no process metrics. */
  static unread(): Report {
    return new Report({ processMetrics: false });
  }
}
