/**
 * The parser behind `format.ts`: a recursive descent over one file's text, following nats-server's
 * lexer and parser (`conf/lex.go`, `conf/parse.go`) where they differ from what one would guess.
 * Private to the config folder.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { quote } from "../shared/log.ts";
import { type ConfigMap, ConfigSyntaxError, type ConfigValue } from "./format.ts";
import { isRejectedUnquoted, parseBoolean, parseNumber } from "./_values.ts";

export interface ParseContext {
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
const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\" };

/** A recursive-descent parser over one file's text. */
export class ConfigParser {
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
    const boolean = parseBoolean(text);
    if (boolean !== undefined) return boolean;
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
