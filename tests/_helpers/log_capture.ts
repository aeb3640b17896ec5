/** A logger for tests that keeps every line, parsed, so a test can assert on what was logged. */

import { createLogger, type Logger } from "../../src/shared/log.ts";

/**
 * A character no log line may carry raw: C0 and C1 controls, DEL, the line and paragraph separators
 * and the bidi controls (src/shared/log.ts writes them as escapes).
 */
// deno-lint-ignore no-control-regex
export const RAW_UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/** One JSON log line: its level, its message and its fields. */
export interface LogEntry {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** @returns a debug-level JSON logger and the array its lines are parsed into, oldest first. */
export function captureLog(): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = createLogger({
    level: "debug",
    format: "json",
    write: (line) => entries.push(JSON.parse(line)),
  });
  return { log, entries };
}
