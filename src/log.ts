/**
 * The supervisor's log: one line per event on stderr, as text or JSON, filtered by level.
 * nats-server's own output passes through untouched on the same streams; text lines carry a
 * `[pot-nats]` prefix so the two are easy to tell apart.
 *
 * Every line goes through {@link redact}: a seed, a JWT or a creds block never reaches the log,
 * whatever a caller passes in.
 */

import type { LogFormat, LogLevel } from "./settings.ts";

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const TAG: Record<LogLevel, string> = { debug: "DBG", info: "INF", warn: "WRN", error: "ERR" };

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where finished lines go (without newline); stderr by default. */
  write?: (line: string) => void;
  now?: () => Date;
}

/** Creates a logger; lines below `level` are dropped before they are formatted. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStderrLine;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel) => (message: string, fields: Fields = {}) => {
    if (RANK[level] < RANK[options.level]) return;
    write(redact(formatLine(level, message, fields, now(), options.format)));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** A logger that drops everything: for tools and tests that do not care. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

function formatLine(
  level: LogLevel,
  message: string,
  fields: Fields,
  time: Date,
  format: LogFormat,
): string {
  if (format === "json") {
    return JSON.stringify({ time: time.toISOString(), level, msg: message, ...plain(fields) });
  }
  const pairs = Object.entries(plain(fields)).map(([k, v]) => `${k}=${textValue(v)}`);
  return [`[pot-nats] ${time.toISOString()} ${TAG[level]} ${oneLine(message)}`, ...pairs].join(" ");
}

/** Errors become their message; everything else stays as is. */
function plain(fields: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out[k] = v instanceof Error ? oneLine(v.message) : v;
  }
  return out;
}

function textValue(value: unknown): string {
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, " | ");
}

const SECRET_PATTERNS: readonly RegExp[] = [
  // nkey seeds: S + key type + base32 body.
  /\bS[ONACUXP][A-Z2-7]{50,}\b/g,
  // JWTs: header.payload.signature, base64url.
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g,
];

/** Masks anything shaped like an nkey seed or a JWT. */
export function redact(line: string): string {
  return SECRET_PATTERNS.reduce((s, pattern) => s.replace(pattern, "[redacted]"), line);
}

const encoder = new TextEncoder();

function writeStderrLine(line: string): void {
  writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
}

function writeAllSync(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += target.writeSync(bytes.subarray(offset));
}
