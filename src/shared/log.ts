/**
 * The supervisor's log: one line per event on stderr, as text or JSON, filtered by level.
 * nats-server's own output passes through untouched on the same streams; text lines carry a
 * `[pot-nats]` prefix and JSON lines a `"source":"pot-nats"` field so the two are easy to tell apart.
 *
 * Text that reaches a line may come from outside (mounted file names, JWT claims, server replies)
 * and be hostile, so every line is made safe here, whatever a caller passes in:
 *
 * - masked: anything shaped like an nkey seed or a JWT becomes `[redacted]` ({@linkcode redact}),
 *   before anything is cut, so a cut never leaves part of a secret;
 * - bounded: the message to {@linkcode MESSAGE_MAX} characters, each field value to
 *   {@linkcode FIELD_MAX}, with a visible `…(+N chars)` marker;
 * - escaped: in text lines a control character (C0, DEL, C1), a line or paragraph separator, a bidi
 *   control or a lone surrogate is shown as an escape (`\x1b`, `\r`, `\u2028`); line breaks in the
 *   message read as ` | `. JSON lines keep values faithful but write every such character as a
 *   `\uXXXX` escape, so each line is one line of valid JSON.
 *
 * Code that embeds an outside value in a message or a reason uses {@linkcode quote},
 * {@linkcode show} or {@linkcode clip}, so the value is bounded where it enters and cannot
 * crowd out the rest of the message.
 */

/** The log levels, lowest first (`POT_NATS_LOG_LEVEL`). */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** One line of text, or one JSON object, per event (`POT_NATS_LOG_FORMAT`). */
export type LogFormat = "text" | "json";

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

/**
 * Longest message, in UTF-16 code units as rendered. Messages are prose written here plus a few
 * outside values of at most {@linkcode FIELD_MAX} each (a rejected JWT: its file name and a reason
 * quoting one claim are under 700), so this keeps every message the code builds whole while a
 * hostile one stays one screenful.
 */
export const MESSAGE_MAX = 1000;
/** Longest field value, and default bound of {@linkcode quote}, {@linkcode show}, {@linkcode clip}. */
export const FIELD_MAX = 200;

/**
 * Every JSON line's `source`: nats-server's own lines share stderr, so a log pipeline tells the
 * supervisor's lines apart by this field (text lines by their `[pot-nats]` prefix).
 */
export const SOURCE = "pot-nats";
const OWN_KEYS = new Set(["time", "level", "source", "msg"]);

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const TAG: Record<LogLevel, string> = { debug: "DBG", info: "INF", warn: "WRN", error: "ERR" };

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where finished lines go (without newline); stderr by default. */
  write?: (line: string) => void;
  now?: () => Date;
  /** Also hears every warning and error that is logged, its message masked and bounded. */
  onProblem?: (level: "warn" | "error", message: string) => void;
}

/** Creates a logger; lines below `level` are dropped before they are formatted. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStderrLine;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel) => (message: string, fields: Fields = {}) => {
    if ((level === "warn" || level === "error") && options.onProblem) {
      options.onProblem(level, clip(message, MESSAGE_MAX));
    }
    if (RANK[level] < RANK[options.level]) return;
    write(formatLine(level, message, fields, now(), options.format));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/**
 * Logs a problem that may repeat on every retry: at its level the first time, at debug level while
 * the same message and fields repeat, at its level again once something else was logged or it was
 * `reset()` (the problem went away).
 */
export class RepeatQuieter {
  readonly #log: Logger;
  #last: string | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  log(level: "warn" | "error", message: string, fields: Fields = {}): void {
    const key = `${message} ${jsonText(fields)}`; // never throws (a BigInt, a cycle)
    if (key === this.#last) {
      this.#log.debug(`again: ${message}`, fields);
      return;
    }
    this.#last = key;
    this.#log[level](message, fields);
  }

  /** The problem went away: its next occurrence is logged at its level again. */
  reset(): void {
    this.#last = undefined;
  }
}

/** A logger that drops everything: for tools and tests that do not care. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** A field value allowed {@linkcode MESSAGE_MAX} instead of {@linkcode FIELD_MAX}; see {@linkcode longField}. */
class LongField {
  constructor(readonly text: string) {}
}

/**
 * Marks a field value an operator needs whole, such as nats-server's report on a rejected config:
 * it is bounded like a message ({@linkcode MESSAGE_MAX}) rather than like a field.
 * @returns a value to pass as a field
 */
export function longField(text: string): unknown {
  return new LongField(text);
}

/**
 * An outside value inside a message, always quoted: a string is masked, bounded to `max`, escaped
 * (control characters, `"` and `\`) and put in double quotes, like `JSON.stringify` for plain text;
 * `undefined` reads `undefined`; anything else is its bounded, escaped JSON text.
 * @returns the text to embed
 */
export function quote(value: unknown, max: number = FIELD_MAX): string {
  if (typeof value === "string") return `"${bound(redact(value), { max, rendering: "quoted" })}"`;
  if (value === undefined) return "undefined";
  return bound(redact(jsonText(value)), { max, rendering: "text" });
}

/**
 * An outside word inside a message (a key, a file name): as it is when it is a plain word (no
 * space, quote, `=`, backslash or control character, within `max`), otherwise like
 * {@linkcode quote}, so a hostile name can neither pass as more of the message nor hide.
 * @returns the text to embed
 */
export function show(value: unknown, max: number = FIELD_MAX): string {
  if (typeof value !== "string") return quote(value, max);
  const masked = redact(value);
  const shown = bound(masked, { max, rendering: "quoted" });
  return shown === masked && PLAIN_WORD.test(masked) ? masked : `"${shown}"`;
}

/**
 * Outside text kept as data (a server's description of an error): masked and bounded to `max`,
 * not escaped (every log line escapes it when printed) unless `escaped`, for text printed as is.
 * @returns the bounded text
 */
export function clip(text: string, max: number = FIELD_MAX, escaped = false): string {
  return bound(redact(text), { max, rendering: escaped ? "text" : "raw" });
}

/** A value shown bare in text lines and by {@linkcode show}; anything else is quoted. */
const PLAIN_WORD = /^[^\s"=\\]+$/;

function formatLine(
  level: LogLevel,
  message: string,
  fields: Fields,
  time: Date,
  format: LogFormat,
): string {
  const values = Object.entries(fields).filter(([, value]) => value !== undefined)
    .map(([key, value]) => [key, fieldValue(value)] as const);
  if (format === "json") {
    const entries: [string, unknown][] = [
      ["time", time.toISOString()],
      ["level", level],
      ["source", SOURCE],
      ["msg", bound(redact(message), { max: MESSAGE_MAX, rendering: "json" })],
    ];
    for (const [key, value] of values) {
      // A field never replaces the line's own time, level, source or message.
      if (OWN_KEYS.has(key)) continue;
      entries.push([
        key,
        isText(value) ? bound(value.text, { ...value, rendering: "json" }) : value,
      ]);
    }
    return escapeJsonLine(JSON.stringify(Object.fromEntries(entries)));
  }
  const pairs = values.map(([key, value]) =>
    `${textField({ text: key, max: FIELD_MAX, join: false })}=${
      isText(value) ? textField(value) : String(value)
    }`
  );
  const head = `[pot-nats] ${time.toISOString()} ${TAG[level]} ` +
    bound(redact(message), { max: MESSAGE_MAX, rendering: "text", join: true });
  return [head, ...pairs].join(" ");
}

/** A field value before formatting: masked text with its bound, or a JSON scalar. */
type FieldValue = FieldText | number | boolean | null;
type FieldText = { text: string; max: number; join: boolean };

function isText(value: FieldValue): value is FieldText {
  return typeof value === "object" && value !== null;
}

/** Errors become their message on one line; objects their JSON text; numbers stay numbers. */
function fieldValue(value: unknown): FieldValue {
  if (typeof value === "number" || typeof value === "boolean" || value === null) return value;
  if (typeof value === "string") return { text: redact(value), max: FIELD_MAX, join: false };
  if (value instanceof LongField) {
    return { text: redact(value.text), max: MESSAGE_MAX, join: false };
  }
  if (value instanceof Error) return { text: redact(value.message), max: FIELD_MAX, join: true };
  return { text: redact(jsonText(value)), max: FIELD_MAX, join: false };
}

/** A text-line field value: bare when it is a plain word, otherwise quoted and escaped. */
function textField(value: FieldText): string {
  const { text } = value;
  const shown = bound(text, { ...value, rendering: "quoted" });
  return shown === text && PLAIN_WORD.test(text) ? text : `"${shown}"`;
}

function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A BigInt, a cycle or a throwing toJSON: the value's own string form will do.
    try {
      return String(value);
    } catch {
      return "[unprintable value]";
    }
  }
}

/**
 * How {@linkcode bound} renders and counts each character:
 * - `raw`: as is, one per code unit (data that is escaped later);
 * - `json`: as is, counted as wide as `JSON.stringify` and {@linkcode escapeJsonLine} write it;
 * - `text`: unsafe characters escaped;
 * - `quoted`: like `text`, and `"` and `\` escaped too (the text goes between double quotes).
 */
type Rendering = "raw" | "json" | "text" | "quoted";

interface BoundOptions {
  max: number;
  rendering: Rendering;
  /** Show a run of whitespace holding a line break as ` | ` (messages and error texts). */
  join?: boolean;
}

/**
 * Renders `text` and cuts it where the rendered text would exceed `max` code units, never inside
 * an escape or a surrogate pair, appending `…(+N chars)` with the number of code units left out.
One pass, linear in the
 * part kept (plus the whitespace run it stops in).
 */
function bound(text: string, options: BoundOptions): string {
  const { max, rendering, join = false } = options;
  let out = "";
  let width = 0;
  let i = 0;
  let plainUntil = 0; // end of a whitespace run without a line break: rendered char by char
  while (i < text.length) {
    const code = text.charCodeAt(i);
    let piece: string;
    let pieceWidth: number;
    let next = i + 1;
    if (join && i >= plainUntil && isWhitespace(code)) {
      let end = i;
      let lineBreak = false;
      for (; end < text.length && isWhitespace(text.charCodeAt(end)); end++) {
        if (text.charCodeAt(end) === 0x0a) lineBreak = true;
      }
      if (!lineBreak) {
        plainUntil = end;
        continue;
      }
      piece = " | ";
      pieceWidth = piece.length;
      next = end;
    } else if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) {
      piece = text.slice(i, i + 2);
      pieceWidth = 2;
      next = i + 2;
    } else {
      piece = text[i]!;
      pieceWidth = 1;
      if (rendering === "raw") {
        // as is
      } else if (isUnsafe(code)) {
        if (rendering === "json") {
          pieceWidth = jsonEscape(code).length;
        } else {
          piece = textEscape(code);
          pieceWidth = piece.length;
        }
      } else if (code === 0x22 || code === 0x5c) {
        if (rendering === "json" || rendering === "quoted") pieceWidth = 2;
        if (rendering === "quoted") piece = `\\${piece}`;
      }
    }
    if (width + pieceWidth > max) break;
    out += piece;
    width += pieceWidth;
    i = next;
  }
  return i < text.length ? `${out}…(+${text.length - i} chars)` : out;
}

/**
 * Characters never written raw: C0 controls, DEL, C1 controls, lone surrogates (a terminal or an
 * encoder would mangle them), the line and paragraph separators (line breaks to some readers), and
 * the bidi controls (ALM, LRM, RLM, LRE...RLO, LRI...PDI), which can make a line read reordered.
 */
function isUnsafe(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code < 0xa0) || (code >= 0xd800 && code <= 0xdfff) ||
    code === 0x061c || code === 0x200e || code === 0x200f || (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069);
}

const UNSAFE_OUTSIDE_C0 = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** `JSON.stringify` escapes C0, `"`, `\` and lone surrogates; this escapes the other unsafe ones. */
function escapeJsonLine(line: string): string {
  return line.replace(UNSAFE_OUTSIDE_C0, (char) => jsonEscape(char.charCodeAt(0)));
}

const SHORT_ESCAPES: Record<number, string> = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r" };
const JSON_SHORT_ESCAPES: Record<number, string> = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
};

function textEscape(code: number): string {
  return SHORT_ESCAPES[code] ??
    (code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`);
}

function jsonEscape(code: number): string {
  return JSON_SHORT_ESCAPES[code] ?? `\\u${hex(code, 4)}`;
}

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, "0");
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** What `\s` matches. */
function isWhitespace(code: number): boolean {
  return (code >= 0x09 && code <= 0x0d) || code === 0x20 || code === 0xa0 || code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 ||
    code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/**
 * nkey seeds: `S`, the role letter, 56 base32 characters (58 in all: a 56-character public key can
 * never match). Anywhere in a string, and with any base32 run that follows it.
 */
const SEED = /S[OANCUXP][A-Z2-7]{56,}/g;
/** Runs of base64url characters and dots, where a JWT (`header.payload.signature`) can hide. */
const TOKEN_RUN = /[A-Za-z0-9_.-]+/g;
/** Each part of a JWT: at least this many base64url characters (the header after its `eyJ`). */
const JWT_PART_MIN = 8;
const REDACTED = "[redacted]";

/**
 * Masks anything shaped like an nkey seed or a JWT, anywhere in `text` (`<seed>_x`, `x<seed>` and
 * `x<JWT>x` included). Linear in the length of `text`: a 1 MB value costs about a millisecond
 * (a regular expression with `eyJ[...]{8,}\.` backtracks quadratically on a long run of `eyJ`).
 * @returns the masked text
 */
export function redact(text: string): string {
  const jwtsMasked = text.includes("eyJ")
    ? text.replace(TOKEN_RUN, (run) => run.includes("eyJ") ? maskJwts(run) : run)
    : text;
  return jwtsMasked.replace(SEED, REDACTED);
}

/**
 * Masks each JWT in a run of base64url characters and dots: from the first `eyJ` of a part with at
 * least 8 characters after it, through the two parts that follow when both have at least 8.
 */
function maskJwts(run: string): string {
  const parts = run.split(".");
  const kept: string[] = [];
  for (let i = 0; i < parts.length;) {
    const part = parts[i]!;
    const start = part.indexOf("eyJ");
    if (
      start >= 0 && part.length - start - 3 >= JWT_PART_MIN &&
      (parts[i + 1]?.length ?? 0) >= JWT_PART_MIN && (parts[i + 2]?.length ?? 0) >= JWT_PART_MIN
    ) {
      kept.push(part.slice(0, start) + REDACTED);
      i += 3;
    } else {
      kept.push(part);
      i += 1;
    }
  }
  return kept.join(".");
}

const encoder = new TextEncoder();

/** One line to stderr; never throws (EPIPE once ended the SIGTERM handler): dropped instead. */
function writeStderrLine(line: string): void {
  try {
    writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
  } catch { /* nowhere left to say it; the supervisor's work goes on */ }
}

function writeAllSync(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += target.writeSync(bytes.subarray(offset));
}
