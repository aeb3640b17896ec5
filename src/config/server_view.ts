/**
 * What the nats-server config means to the supervisor, read once into one immutable view, as
 * nats-server reads its `conf/` format into one `Options` (`opts.go`): the files it consists of, the
 * operator trust, the system account, the JetStream store dir, the full resolver's dir, whether
 * clients must use TLS, and where the server will listen. What is derived is computed on first
 * use and then kept, so a view read once per pass parses the config, and reads the operator JWT
 * files, once.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { operatorSystemAccount, type Trust, trustFrom } from "../jwt/account_jwt.ts";
import { DEFAULT_MAX_FILE_BYTES, readTextBoundedSync } from "../shared/bounded_read.ts";
import {
  type ConfigMap,
  type ConfigValue,
  describeValue,
  getKey,
  isConfigMap,
  type ReadOptions,
  readServerConfig,
  type ServerConfig,
} from "./format.ts";
import {
  type ListenAddress,
  type ListenAddressOptions,
  serverListenAddresses,
} from "./listen_addresses.ts";

/** The nats-server config as the supervisor understands it; see the module doc. */
export class ServerView {
  /** NATS_CONF, absolute. */
  readonly confPath: string;
  /** NATS_CONF and every file it includes, main first. */
  readonly files: readonly string[];
  /** Top-level settings, includes merged, variables resolved; look keys up with `getKey`. */
  readonly root: Readonly<ConfigMap>;
  readonly #config: ServerConfig;
  readonly #options: ReadOptions;
  #trust: { trust: Trust; operatorJwts: string[] } | undefined;

  private constructor(confPath: string, config: ServerConfig, options: ReadOptions) {
    this.confPath = confPath;
    this.files = Object.freeze([...config.files]);
    this.root = config.root;
    this.#config = config;
    this.#options = options;
  }

  /**
   * Reads and parses the config (through `options.readTextFile`: the config and its includes are
   * files from watched paths).
   * @throws when the config or an include cannot be read (`Deno.errors.NotFound`, a rejected
   *   file) or does not parse (`ConfigSyntaxError`, naming the file, the line and the fix)
   */
  static read(confPath: string, options: ReadOptions = {}): ServerView {
    const path = resolve(confPath);
    return new ServerView(path, readServerConfig(path, options), options);
  }

  /**
   * The keys account JWTs may be issued by: the operator JWTs (checked) and `trusted_keys`.
   * @throws when an operator JWT file is missing or unreadable, or an operator JWT is invalid
   */
  get trust(): Trust {
    return this.#trustMaterial().trust;
  }

  /**
   * The system account as nats-server decides it: `system_account` (also spelled `system`), else
   * the `nats.system_account` of the config's only operator JWT; undefined when neither says.
   * @throws like {@linkcode ServerView.trust} when the operator JWT must be read for it
   */
  get systemAccount(): string | undefined {
    return this.systemAccountSetting?.key;
  }

  /**
   * {@linkcode ServerView.systemAccount} and where it comes from, for messages.
   * @throws like {@linkcode ServerView.trust} when the operator JWT must be read for it
   */
  get systemAccountSetting(): { key: string; source: string } | undefined {
    for (const key of ["system_account", "system"]) {
      const value = getKey(this.root, key);
      if (typeof value === "string" && value !== "") {
        return { key: value, source: `${key} in the server config` };
      }
    }
    const { operatorJwts } = this.#trustMaterial();
    const fromOperator = operatorJwts.length === 1
      ? operatorSystemAccount(operatorJwts[0]!)
      : undefined;
    return fromOperator ? { key: fromOperator, source: "the operator JWT" } : undefined;
  }

  /** Whether the config has a top-level `tls` block (clients must use TLS). */
  get tlsRequired(): boolean {
    return getKey(this.root, "tls") !== undefined;
  }

  /**
   * The JetStream store dir (see {@linkcode jetstreamStoreDir}), nats-server running in the config's
   * directory; null when JetStream is off.
   * @throws {TypeError} for a malformed setting
   */
  storeDir(options: { tmpDir?: string } = {}): string | null {
    return jetstreamStoreDir(this.#config, dirname(this.confPath), options);
  }

  /**
   * The full resolver's directory (see {@linkcode resolverDir}); null without a full resolver.
   * @throws {TypeError} for a full resolver without a dir
   */
  resolverDir(): string | null {
    return resolverDir(this.#config, dirname(this.confPath));
  }

  /** Where nats-server will listen with this config (see `listen_addresses.ts`). */
  listenAddresses(options: Omit<ListenAddressOptions, "confPath">): ListenAddress[] {
    return serverListenAddresses(this.root as ConfigMap, { ...options, confPath: this.confPath });
  }

  #trustMaterial(): { trust: Trust; operatorJwts: string[] } {
    if (!this.#trust) {
      const material = trustMaterial(this.#config, this.confPath, this.#options);
      this.#trust = {
        trust: trustFrom(material.operatorJwts, material.trustedKeys),
        operatorJwts: material.operatorJwts,
      };
    }
    return this.#trust;
  }
}

function readTextFileBounded(path: string): string {
  return readTextBoundedSync(path, DEFAULT_MAX_FILE_BYTES);
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
    (isConfigMap(jetstream)
      ? firstKey(jetstream, ["store_dir", "storedir", "store"])
      : undefined) ??
      firstKey(config.root, ["store_dir", "storedir"]);
  if (storeDir === undefined || storeDir === "") {
    return join(options.tmpDir ?? (Deno.env.get("TMPDIR") || "/tmp"), "nats");
  }
  if (typeof storeDir !== "string") {
    throw new TypeError(`jetstream store_dir must be a path, got ${describeValue(storeDir)}`);
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
  if (!isConfigMap(resolver)) return null;
  // nats-server reads `type` and `dir` with these exact (lower-case) names, unlike most settings.
  const type = resolver["type"];
  if (typeof type !== "string" || type.toUpperCase() !== "FULL") return null;
  const dir = resolver["dir"];
  if (typeof dir !== "string" || dir === "") {
    throw new TypeError(
      `the full resolver needs a directory, e.g. resolver { type: full, dir: "./jwt" }, got dir ${
        describeValue(dir)
      }`,
    );
  }
  return resolve(serverCwd, dir);
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
        `${aliases[0]} in ${file} must be a string or an array of strings, got ${
          describeValue(item)
        }`,
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
  if (isConfigMap(setting)) {
    const enabled = firstKey(setting, ["enabled", "enable"]) ?? true;
    if (typeof enabled === "boolean") return enabled;
    throw new TypeError(
      `jetstream { enabled } must be true or false, got ${describeValue(enabled)}`,
    );
  }
  throw new TypeError(
    `jetstream must be enabled, disabled, true, false or a block, got ${describeValue(setting)}`,
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
