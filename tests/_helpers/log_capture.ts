/** A logger for tests that keeps every line, parsed, so a test can assert on what was logged. */

import { createLogger, type Logger } from "../../src/log.ts";

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
