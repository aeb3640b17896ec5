/**
 * Reader for nats-server's configuration file format (its `conf` package): the syntax, includes and
 * variables, typed values. What the settings mean is `server_view.ts`'s, as nats-server keeps the
 * format in `conf/` and its meaning in `opts.go`.
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

import { resolve } from "node:path";
import { DEFAULT_MAX_FILE_BYTES, readTextBoundedSync } from "../shared/bounded_read.ts";
import { quote } from "../shared/log.ts";
import { ConfigParser, type ParseContext } from "./_parser.ts";

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

/** Whether a value is a block (`{ ... }`). */
export function isConfigMap(value: ConfigValue | undefined): value is ConfigMap {
  return typeof value === "object" && !Array.isArray(value);
}

/** A value as an error message shows it: quoted, escaped and bounded; "nothing" when absent. */
export function describeValue(value: ConfigValue | undefined): string {
  return value === undefined ? "nothing" : quote(value);
}

function environmentLookup(
  env: Record<string, string | undefined> | undefined,
): (name: string) => string | undefined {
  if (env === undefined) return (name) => Deno.env.get(name);
  return (name) => Object.hasOwn(env, name) ? env[name] : undefined;
}
