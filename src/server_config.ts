/**
 * Reader for nats-server's configuration file format (its `conf` package), plus the few settings the
 * supervisor needs from it: trust material, the JetStream store dir and the full resolver's dir.
 *
 * Values are typed as nats-server types them. Quoted strings (`"..."` with the escapes `\n \t \r \" \\
 * \xHH`, raw `'...'`) and `( ... )` blocks, ended by a `)` alone at the start of a line, are strings.
 * An unquoted value is a boolean (`true false yes no on off`, any case), a `$VARIABLE`, a number, or
 * else a string (`/data/js`, `127.0.0.1:4222`, `nats://hub:7422`). Sizes are numbers of bytes:
 * `1K` = 1000, `1KB` = `1KiB` = 1024, and likewise M, G, T, P, E. So unquoted `2m` is 2000000: write
 * durations in quotes (`"2m"`), as nats-server expects them. Datetimes stay strings. Numbers are
 * JavaScript numbers (exact up to 2^53). nats-server rejects some unquoted values, such as `./jwt`
 * or `1.9s`, and so does this reader, with a hint to quote them. It is more lenient in a few corners
 * where nats-server's lexer misbehaves: 2.10.27 rejects an integer right before `]` (`[1, 2]`) and
 * takes `a { b: }` as valid.
 *
 * Like nats-server: a `$NAME` reference takes the value of a key `NAME` defined earlier in the same
 * block or an enclosing one, else of the environment variable `NAME` (parsed as a value); variable
 * definitions stay in the result as ordinary keys. An included file is parsed on its own (it does
 * not see the including file's variables) and its keys are merged at the `include`. An include's
 * path is joined to the including file's directory, even when it is absolute. Not supported: the
 * include digest of nats-server versions newer than 2.10 (`include x.conf "sha256:..."`).
 */

import { dirname, join, resolve } from "node:path";
import { DEFAULT_MAX_FILE_BYTES, readTextBoundedSync } from "./bounded_read.ts";
import { quote } from "./log.ts";

export type ConfigValue = string | number | boolean | ConfigValue[] | ConfigMap;
export interface ConfigMap {
  [key: string]: ConfigValue;
}

export interface ServerConfig {
  /** Top-level keys, includes merged, variables resolved. Keys as written: look them up with `getKey`. */
  root: ConfigMap;
  /** Absolute paths of the main file and every file it includes (recursively), main first, no duplicates. */
  files: string[];
}

export interface ReadOptions {
  /** Environment for `$VARIABLE` references (default: this process's environment). */
  env?: Record<string, string | undefined>;
  /**
   * Reads a file (default: a bounded read with the default size cap, which refuses FIFOs, devices
   * and files over 1 MiB with a `FileRejectedError`; see `bounded_read.ts`).
   */
  readTextFile?: (path: string) => string;
}

function readTextFileBounded(path: string): string {
  return readTextBoundedSync(path, DEFAULT_MAX_FILE_BYTES);
}

/** A configuration nats-server would refuse to parse; the message names the file, the line and the fix. */
export class ConfigSyntaxError extends Error {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, problem: string) {
    super(`${file}:${line}: ${problem}`);
    this.name = "ConfigSyntaxError";
    this.file = file;
    this.line = line;
  }
}

/**
 * Parses `text` as if it were the file at `file` (whose directory includes are relative to).
 * Throws `ConfigSyntaxError` on bad syntax or an unknown variable, `Deno.errors.NotFound` when an
 * included file is missing.
 */
export function parseServerConfig(
  text: string,
  file: string,
  options: ReadOptions = {},
): ServerConfig {
  const mainFile = resolve(file);
  const context: ParseContext = {
    readTextFile: options.readTextFile ?? readTextFileBounded,
    lookupEnv: environmentLookup(options.env),
    files: [mainFile],
    includeChain: [mainFile],
  };
  return { root: new ConfigParser(text, mainFile, context).parseDocument(), files: context.files };
}

/**
 * Reads and parses the configuration file at `path`. Throws `Deno.errors.NotFound` when it or a file
 * it includes is missing, `ConfigSyntaxError` on bad syntax or an unknown variable.
 */
export function readServerConfig(path: string, options: ReadOptions = {}): ServerConfig {
  const readTextFile = options.readTextFile ?? readTextFileBounded;
  const file = resolve(path);
  return parseServerConfig(readTextFile(file), file, options);
}

/**
 * The value of `key` in `map`, matched case-insensitively as nats-server matches setting names
 * (the last one wins if several spellings are present), or undefined.
 */
export function getKey(map: ConfigMap, key: string): ConfigValue | undefined {
  const wanted = key.toLowerCase();
  let found: ConfigValue | undefined;
  for (const [name, value] of Object.entries(map)) {
    if (name.toLowerCase() === wanted) found = value;
  }
  return found;
}

const OPERATOR_KEYS = ["operator", "operators", "root_operator", "root_operators", "root", "roots"];
const TRUSTED_KEYS_KEYS = ["trusted_keys", "trusted"];
/** Every encoded JWT starts with this (the base64 of `{"`); nats-server uses it to tell inline JWTs. */
const JWT_PREFIX = "eyJ";

/**
 * The trust material of an operator-mode configuration: the operator JWTs (from `operator`,
 * `operators` and nats-server's other spellings: each an inline JWT or a file holding one, possibly
 * nsc-decorated, relative to `mainFile`'s directory) as trimmed raw JWTs, and the `trusted_keys`
 * (or `trusted`) public keys. Both are empty when absent. Throws `Deno.errors.NotFound` for a missing
 * operator file and `TypeError` for a setting that is not a string or an array of strings.
 */
export function trustMaterial(
  config: ServerConfig,
  mainFile: string,
  options: ReadOptions = {},
): { operatorJwts: string[]; trustedKeys: string[] } {
  const readTextFile = options.readTextFile ?? readTextFileBounded;
  const configDir = dirname(resolve(mainFile));
  const operatorJwts = stringsAt(config.root, OPERATOR_KEYS, mainFile).map((entry) =>
    entry.startsWith(JWT_PREFIX)
      ? entry.trim()
      : readOperatorJwtFile(resolve(configDir, entry), mainFile, readTextFile)
  );
  return { operatorJwts, trustedKeys: stringsAt(config.root, TRUSTED_KEYS_KEYS, mainFile) };
}

/**
 * The store dir nats-server's JetStream uses, or null when JetStream is absent or disabled
 * (`jetstream: disabled|false`, `jetstream { enabled: false }`). This is the configured
 * `store_dir` (also spelled `storedir`, or `store` inside the block, or a top-level `store_dir`)
 * resolved against `serverCwd`; nats-server keeps its data one level down, in `<store_dir>/jetstream`.
 * Without a store dir nats-server uses `filepath.Join(os.TempDir(), "nats")`: that is
 * `<tmpDir>/nats` here, `tmpDir` defaulting like Go's `os.TempDir()` to `$TMPDIR`, else `/tmp`.
 * Command-line flags (`-js`, `-sd`) are not seen. Throws `TypeError` for a malformed setting.
 */
export function jetstreamStoreDir(
  config: ServerConfig,
  serverCwd: string,
  options: { tmpDir?: string } = {},
): string | null {
  const jetstream = getKey(config.root, "jetstream");
  if (!isJetStreamEnabled(jetstream)) return null;
  const storeDir =
    (isMap(jetstream) ? firstKey(jetstream, ["store_dir", "storedir", "store"]) : undefined) ??
      firstKey(config.root, ["store_dir", "storedir"]);
  if (storeDir === undefined || storeDir === "") {
    return join(options.tmpDir ?? (Deno.env.get("TMPDIR") || "/tmp"), "nats");
  }
  if (typeof storeDir !== "string") {
    throw new TypeError(`jetstream store_dir must be a path, got ${describe(storeDir)}`);
  }
  return resolve(serverCwd, storeDir);
}

/**
 * The directory of a full account resolver (`resolver { type: full, dir: X }`, also spelled
 * `account_resolver`), resolved against `serverCwd`, or null when there is no full resolver.
 * Throws `TypeError` when a full resolver has no dir (nats-server refuses that too).
 */
export function resolverDir(config: ServerConfig, serverCwd: string): string | null {
  const resolver = firstKey(config.root, ["resolver", "account_resolver", "accounts_resolver"]);
  if (!isMap(resolver)) return null;
  // nats-server reads `type` and `dir` with these exact (lower-case) names, unlike most settings.
  const type = resolver["type"];
  if (typeof type !== "string" || type.toUpperCase() !== "FULL") return null;
  const dir = resolver["dir"];
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError(
      `the full resolver needs a directory, e.g. resolver { type: full, dir: "./jwt" }, got dir ${
        describe(dir)
      }`,
    );
  }
  return resolve(serverCwd, dir);
}

interface ParseContext {
  readonly readTextFile: (path: string) => string;
  readonly lookupEnv: (name: string) => string | undefined;
  /** Every file read so far, main first. */
  readonly files: string[];
  /** The files being parsed, outermost first: including one of them again would never end. */
  readonly includeChain: string[];
}

const BARE_KEY = /[^\s:={}[\],;]+/y;
const BARE_VALUE_CHUNK = /[^ \t\r\n,;\]}\\]*/y;
const DOUBLE_QUOTED_CHUNK = /[^"\\]*/y;
const BARE_INCLUDE_NAME = /[^\s;}]+/y;
const NEXT_WORD = /[^\s,;{}[\]]+/y;
const BLOCK_STRING_END = /\n\)(?=\r?\n|$)/g;
const BOOLEAN = /^(?:true|false|yes|no|on|off)$/i;
const TRUE_WORDS = ["true", "yes", "on"];
const INTEGER_OR_FLOAT = /^-?\d+(?:\.\d+)?$/;
const SIZE = /^(-?\d+)([kmgtpe])(b|i|ib)?$/i;
const SIZE_UNITS = "kmgtpe";
const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\" };

/** A recursive-descent parser over one file's text. */
class ConfigParser {
  readonly #text: string;
  readonly #file: string;
  readonly #context: ParseContext;
  #pos = 0;
  /** The blocks around the current position, innermost last: where `$NAME` is looked up first. */
  readonly #scopes: ConfigMap[] = [];

  constructor(text: string, file: string, context: ParseContext) {
    this.#text = text;
    this.#file = file;
    this.#context = context;
  }

  parseDocument(): ConfigMap {
    const root: ConfigMap = {};
    this.#parseEntries(root, null);
    return root;
  }

  /** Reads entries into `map` up to the `}` opened at `openedAt`, or to the end when it is null. */
  #parseEntries(map: ConfigMap, openedAt: number | null): void {
    this.#scopes.push(map);
    for (;;) {
      this.#skipSpaceAndComments();
      const next = this.#peek();
      if (openedAt === null && (next === "{" || next === "}")) {
        this.#pos++; // nats-server accepts a whole file wrapped in braces, JSON style
      } else if (next === "}") {
        this.#pos++;
        break;
      } else if (next === "") {
        if (openedAt === null) break;
        throw this.#error(
          `expected "}" to close the block opened on line ${
            this.#lineAt(openedAt)
          }, found the end of the file`,
        );
      } else {
        this.#parseEntry(map, openedAt !== null);
      }
    }
    this.#scopes.pop();
  }

  #parseEntry(map: ConfigMap, inBlock: boolean): void {
    const keyAt = this.#pos;
    const { key, quoted } = this.#parseKey();
    if (!quoted && key.toLowerCase() === "include" && isSpace(this.#peek())) {
      this.#includeInto(map, keyAt);
      this.#expectSeparator(inBlock ? "}" : null, "the include");
      return;
    }
    this.#skipWhile(isSpace); // nats-server allows new lines between a key and its separator...
    if (this.#peek() === ":" || this.#peek() === "=") this.#pos++;
    this.#skipWhile(inBlock ? isSpace : isBlank); // ...and after it only inside a block
    setEntry(map, key, this.#parseValue(key));
    this.#expectSeparator(inBlock ? "}" : null, `the value of "${key}"`);
  }

  #parseKey(): { key: string; quoted: boolean } {
    const next = this.#peek();
    if (next === '"' || next === "'") return { key: this.#parseRawQuoted(), quoted: true };
    const key = this.#match(BARE_KEY);
    if (key === "") throw this.#error(`expected a key, found ${this.#describeNext()}`);
    return { key, quoted: false };
  }

  #parseValue(key: string): ConfigValue {
    switch (this.#peek()) {
      case "{": {
        const block: ConfigMap = {};
        this.#parseEntries(block, this.#pos++);
        return block;
      }
      case "[":
        return this.#parseArray(key);
      case '"':
        return this.#parseDoubleQuoted();
      case "'":
        return this.#parseRawQuoted();
      case "(":
        return this.#parseBlockString();
      case "":
      case "\n":
      case "\r":
      case ",":
      case ";":
      case "]":
      case "}":
        throw this.#error(`expected a value for "${key}", found ${this.#describeNext()}`);
      default:
        return this.#parseBare(key);
    }
  }

  #parseArray(key: string): ConfigValue[] {
    const openedAt = this.#pos++;
    const items: ConfigValue[] = [];
    for (;;) {
      this.#skipSpaceAndComments();
      const next = this.#peek();
      if (next === "]") {
        this.#pos++;
        return items;
      }
      if (next === "") {
        throw this.#error(
          `expected "]" to close the array opened on line ${
            this.#lineAt(openedAt)
          }, found the end of the file`,
        );
      }
      items.push(this.#parseValue(key));
      this.#expectSeparator("]", `an item of "${key}"`);
    }
  }

  /** After an entry or an item: blanks, maybe a comment, then a separator (consumed) or the closer. */
  #expectSeparator(closer: "}" | "]" | null, after: string): void {
    this.#skipWhile(isBlank);
    this.#skipComment();
    const next = this.#peek();
    if (next === "\n" || next === "\r" || next === "," || (next === ";" && closer !== "]")) {
      this.#pos++;
    } else if (next !== "" && next !== closer && !(closer === null && next === "}")) {
      const expected = closer === null
        ? `a new line, "," or ";"`
        : `a new line, "," or "${closer}"`;
      throw this.#error(`expected ${expected} after ${after}, found ${this.#describeNext()}`);
    }
  }

  #parseDoubleQuoted(): string {
    const openedAt = this.#pos++;
    let value = "";
    for (;;) {
      value += this.#match(DOUBLE_QUOTED_CHUNK);
      const next = this.#peek();
      if (next === "") {
        throw this.#error(
          `the string opened with " on this line is never closed; add the closing "`,
          openedAt,
        );
      }
      this.#pos++;
      if (next === '"') return value;
      value += this.#parseEscape();
    }
  }

  /** A `'...'` string, a quoted key or a quoted include name: the text up to the same quote, as is. */
  #parseRawQuoted(): string {
    const openedAt = this.#pos;
    const quote = this.#peek();
    const end = this.#text.indexOf(quote, openedAt + 1);
    if (end === -1) {
      throw this.#error(
        `the ${quote} opened on this line is never closed; add the closing ${quote}`,
        openedAt,
      );
    }
    this.#pos = end + 1;
    return this.#text.slice(openedAt + 1, end);
  }

  /** A `(` block: the raw text up to a `)` alone at the start of a line (kept: its leading new line). */
  #parseBlockString(): string {
    const openedAt = this.#pos;
    BLOCK_STRING_END.lastIndex = openedAt;
    const end = BLOCK_STRING_END.exec(this.#text);
    if (end === null) {
      throw this.#error(
        `the "(" block opened on this line is never closed; end it with ")" alone at the start of a line`,
        openedAt,
      );
    }
    this.#pos = end.index + 2;
    return this.#text.slice(openedAt + 1, end.index + 1);
  }

  /** What a backslash escape stands for (the backslash is already consumed). */
  #parseEscape(): string {
    const escapeAt = this.#pos - 1;
    const letter = this.#peek();
    this.#pos++;
    const simple = SIMPLE_ESCAPES[letter];
    if (simple !== undefined) return simple;
    const hex = this.#text.slice(this.#pos, this.#pos + 2);
    if (letter === "x" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      this.#pos += 2;
      return String.fromCharCode(parseInt(hex, 16));
    }
    throw this.#error(
      `invalid escape "\\${letter}${letter === "x" ? hex : ""}": ` +
        `only \\n \\t \\r \\" \\\\ and \\xHH are allowed; write \\\\ for a backslash`,
      escapeAt,
    );
  }

  #parseBare(key: string): ConfigValue {
    const start = this.#pos;
    let text = "";
    let escaped = false;
    for (;;) {
      text += this.#match(BARE_VALUE_CHUNK);
      if (this.#peek() !== "\\") break;
      this.#pos++;
      text += this.#parseEscape();
      escaped = true;
    }
    if (text === "") {
      throw this.#error(`expected a value for "${key}", found ${this.#describeNext()}`);
    }
    return escaped ? text : this.#typeBareValue(text, start);
  }

  #typeBareValue(text: string, at: number): ConfigValue {
    if (BOOLEAN.test(text)) return TRUE_WORDS.includes(text.toLowerCase());
    if (text.startsWith("$")) return this.#resolveVariable(text.slice(1), at);
    const number = parseNumber(text);
    if (number !== undefined) return number;
    if (isRejectedUnquoted(text)) {
      throw this.#error(
        `nats-server rejects the unquoted value ${text}: put it in quotes ("${text}")`,
        at,
      );
    }
    return text;
  }

  #resolveVariable(name: string, at: number): ConfigValue {
    // A bcrypt hash ($2a$11$...) is a password, not a variable.
    if (name.startsWith("2a$")) return `$${name}`;
    for (const scope of this.#scopes.toReversed()) {
      if (Object.hasOwn(scope, name)) return scope[name] as ConfigValue;
    }
    const fromEnvironment = this.#context.lookupEnv(name);
    if (fromEnvironment !== undefined) {
      return this.#parseEnvironmentValue(name, fromEnvironment, at);
    }
    throw this.#error(
      `unknown variable $${name}: define ${name} before this line or set the environment variable ${name}`,
      at,
    );
  }

  /** An environment variable's text read as a value, as nats-server does (so "4222" is a number). */
  #parseEnvironmentValue(name: string, text: string, at: number): ConfigValue {
    if (text === "") return "";
    try {
      const parsed = new ConfigParser(`value=${text}`, `$${name}`, this.#context).parseDocument();
      return parsed["value"] ?? "";
    } catch (error) {
      if (!(error instanceof ConfigSyntaxError)) throw error;
      const problem = error.message.slice(`${error.file}:${error.line}: `.length);
      throw this.#error(
        `environment variable ${name} (used as $${name}) is not a valid value: ${problem}`,
        at,
      );
    }
  }

  #includeInto(map: ConfigMap, at: number): void {
    this.#skipWhile(isBlank);
    // nats-server joins the name to the including file's directory, even an absolute name.
    const path = join(dirname(this.#file), this.#parseIncludeName());
    for (const [key, value] of Object.entries(this.#parseIncludedFile(path, at))) {
      setEntry(map, key, value);
    }
  }

  #parseIncludeName(): string {
    const next = this.#peek();
    if (next === '"' || next === "'") return this.#parseRawQuoted();
    if (next === "" || /[\n\r[{(\d\\-]/.test(next)) {
      throw this.#error(
        `expected a file name after include, found ${this.#describeNext()}; put the name in quotes`,
      );
    }
    return this.#match(BARE_INCLUDE_NAME);
  }

  #parseIncludedFile(path: string, at: number): ConfigMap {
    const { includeChain, files } = this.#context;
    if (includeChain.includes(path)) {
      throw this.#error(
        `include cycle: ${
          [...includeChain, path].join(" includes ")
        }; remove one of these includes`,
        at,
      );
    }
    let text: string;
    try {
      text = this.#context.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Deno.errors.NotFound(
        `${this.#file}:${
          this.#lineAt(at)
        }: the included file ${path} does not exist; create it or fix the include`,
        { cause: error },
      );
    }
    if (!files.includes(path)) files.push(path);
    includeChain.push(path);
    try {
      return new ConfigParser(text, path, this.#context).parseDocument();
    } finally {
      includeChain.pop();
    }
  }

  #peek(): string {
    return this.#text.charAt(this.#pos);
  }

  /** Consumes and returns what the sticky `pattern` matches at the current position ("" if nothing). */
  #match(pattern: RegExp): string {
    pattern.lastIndex = this.#pos;
    const matched = pattern.exec(this.#text)?.[0] ?? "";
    this.#pos += matched.length;
    return matched;
  }

  #skipWhile(accept: (char: string) => boolean): void {
    while (this.#peek() !== "" && accept(this.#peek())) this.#pos++;
  }

  /** Skips a `#` or `//` comment up to (not including) the end of its line. */
  #skipComment(): void {
    if (this.#peek() === "#" || this.#text.startsWith("//", this.#pos)) {
      this.#skipWhile((char) => char !== "\n" && char !== "\r");
    }
  }

  #skipSpaceAndComments(): void {
    for (let before = -1; before !== this.#pos;) {
      before = this.#pos;
      this.#skipWhile(isSpace);
      this.#skipComment();
    }
  }

  #describeNext(): string {
    const next = this.#peek();
    if (next === "") return "the end of the file";
    if (next === "\n" || next === "\r") return "a new line";
    NEXT_WORD.lastIndex = this.#pos;
    return quote(NEXT_WORD.exec(this.#text)?.[0] ?? next);
  }

  #lineAt(pos: number): number {
    let line = 1;
    for (
      let i = this.#text.indexOf("\n");
      i !== -1 && i < pos;
      i = this.#text.indexOf("\n", i + 1)
    ) {
      line++;
    }
    return line;
  }

  #error(problem: string, at: number = this.#pos): ConfigSyntaxError {
    return new ConfigSyntaxError(this.#file, this.#lineAt(at), problem);
  }
}

/** An unquoted integer, float or size, or undefined. */
function parseNumber(text: string): number | undefined {
  if (INTEGER_OR_FLOAT.test(text)) return Number(text);
  const size = SIZE.exec(text);
  if (size === null) return undefined;
  const [, digits = "", unit = "", binarySuffix] = size;
  const base = binarySuffix === undefined ? 1000 : 1024;
  return Number(digits) * base ** (SIZE_UNITS.indexOf(unit.toLowerCase()) + 1);
}

/**
 * Whether nats-server's lexer fails on this unquoted non-number: it reads a leading `.` or `-` as
 * the start of a number, and a digit-led value with a `.` as a float or an IP address.
 */
function isRejectedUnquoted(text: string): boolean {
  if (text.startsWith(".") || text.startsWith("-")) return true;
  return /^\d+\./.test(text) && !/^[\d.:-]+$/.test(text);
}

function environmentLookup(
  env: Record<string, string | undefined> | undefined,
): (name: string) => string | undefined {
  if (env === undefined) return (name) => Deno.env.get(name);
  return (name) => Object.hasOwn(env, name) ? env[name] : undefined;
}

/** Sets a key without ever touching the prototype: a config may have a "__proto__" key. */
function setEntry(map: ConfigMap, key: string, value: ConfigValue): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function isSpace(char: string): boolean {
  return /\s/.test(char);
}

function isBlank(char: string): boolean {
  return char === " " || char === "\t";
}

function isMap(value: ConfigValue | undefined): value is ConfigMap {
  return typeof value === "object" && !Array.isArray(value);
}

function describe(value: ConfigValue | undefined): string {
  return value === undefined ? "nothing" : quote(value);
}

/** The value of the first of `aliases` present in `map` (case-insensitively), or undefined. */
function firstKey(map: ConfigMap, aliases: string[]): ConfigValue | undefined {
  for (const alias of aliases) {
    const value = getKey(map, alias);
    if (value !== undefined) return value;
  }
  return undefined;
}

function stringsAt(map: ConfigMap, aliases: string[], file: string): string[] {
  const value = firstKey(map, aliases);
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((item) => {
    if (typeof item !== "string") {
      throw new TypeError(
        `${aliases[0]} in ${file} must be a string or an array of strings, got ${describe(item)}`,
      );
    }
    return item;
  });
}

function isJetStreamEnabled(setting: ConfigValue | undefined): boolean {
  if (setting === undefined) return false;
  if (typeof setting === "boolean") return setting;
  if (typeof setting === "string") {
    const word = setting.toLowerCase();
    if (word === "enabled" || word === "enable") return true;
    if (word === "disabled" || word === "disable") return false;
  }
  if (isMap(setting)) {
    const enabled = firstKey(setting, ["enabled", "enable"]) ?? true;
    if (typeof enabled === "boolean") return enabled;
    throw new TypeError(`jetstream { enabled } must be true or false, got ${describe(enabled)}`);
  }
  throw new TypeError(
    `jetstream must be enabled, disabled, true, false or a block, got ${describe(setting)}`,
  );
}

/** nsc writes JWTs between `-----BEGIN ... JWT-----` and `------END ... JWT------` lines. */
const DECORATED_JWT = /-{3,}[^\n]*-{3,}\r?\n\s*([\w.=-]+)\s*\r?\n\s*-{3,}/;

function readOperatorJwtFile(
  path: string,
  mainFile: string,
  readTextFile: (path: string) => string,
): string {
  let text: string;
  try {
    text = readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Deno.errors.NotFound(
      `the operator JWT file ${path} (named in ${mainFile}) does not exist; fix the operator setting or provide the file`,
      { cause: error },
    );
  }
  return (DECORATED_JWT.exec(text)?.[1] ?? text).trim();
}
