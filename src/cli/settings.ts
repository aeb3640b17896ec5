/**
 * The supervisor's settings: the `NATS_*` contract inherited from the reference supervisor and the
 * `POT_NATS_*` additions, read from the environment once at start. A bad value is an error that names
 * the variable, the value and the accepted form; it is never replaced by a default.
 *
 * An empty variable counts as unset (Kubernetes manifests often render unset values as "").
 * Relative paths are resolved against the working directory the supervisor was started in.
 */

import { isAbsolute, join, resolve } from "node:path";
import type { LogFormat, LogLevel } from "../shared/log.ts";
import { DEFAULT_MAX_FILE_BYTES } from "../shared/bounded_read.ts";
import { EXIT_STATUSES } from "./command_line.ts";

export type ServerMode = "server" | "leaf";

/** TLS material as file paths: a CA, and a client certificate with its key. */
export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export interface Settings {
  confPath: string;
  accountsPath: string;
  sslDir: string;
  jwtDir: string;
  jwtMountDir: string;
  mode: ServerMode;
  credsDir: string;
  serverBin: string;
  /** 0 disables the monitor port. */
  monitorPort: number;
  /** Absolute path of the system account user's creds, or undefined when not set. */
  sysUserCredPath: string | undefined;
  clientUrl: string;
  jetstreamStoreDir: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  confWaitSeconds: number;
  stopTimeoutSeconds: number;
  lameDuck: boolean;
  debounceMs: number;
  rescanSeconds: number;
  /** The largest file read from a watched path, in bytes. */
  maxFileBytes: number;
  /** `POT_NATS_CLIENT_TLS_*`: TLS files of the admin connection, where set. */
  clientTls: TlsFiles;
  operatorSigningKeyPath: string | undefined;
  purgeGraceSeconds: number;
  /** undefined: the default limit (half of the accounts with JetStream data, at least one). */
  purgeMax: number | undefined;
  purgeDryRun: boolean;
  /** undefined: the default limit (half of the accounts in the resolver dir, at least one). */
  removeMax: number | undefined;
  /** The supervisor's HTTP endpoint; 0 turns it off. */
  httpPort: number;
  httpHost: string;
  /** A mounted JWT expiring within this many days is warned about (and counted) daily. */
  expiryWarnDays: number;
}

/** One documented setting: what `--help` and the README print and what the parser accepts. */
export interface SettingDoc {
  name: string;
  /** The value used when the variable is unset or empty; undefined: none (the feature's own rule). */
  default: string | undefined;
  /** The one phrase `--help` and the README give as the default: the value, or what applies. */
  defaultText: string;
  description: string;
}

export const SETTING_DOCS: readonly SettingDoc[] = [
  doc("NATS_CONF", "/etc/nats/config/server.conf", "nats-server config file, passed as -c"),
  doc("NATS_ACCOUNTS", "/etc/nats/config/accounts.conf", "accounts file; watched"),
  doc("NATS_SSL_DIR", "/etc/nats/certs", "TLS material directory and its subdirectories; watched"),
  doc(
    "NATS_JWT_DIR",
    "/home/runner/nats/jwt",
    "writable full-resolver directory, the mirror's target",
  ),
  doc("NATS_JWT_MOUNT_DIR", "/tmp/nats/jwt", "read-only mount holding <account>.jwt files"),
  doc("NATS_SERVER_MODE", "server", "server | leaf: what a change triggers"),
  doc("NATS_CREDS_DIR", "/etc/nats/creds/", "creds directory and its subdirectories; watched"),
  doc("NATS_SERVER_BIN", "/home/runner/bin/nats-server", "nats-server binary"),
  doc("NATS_MONITOR_PORT", "8222", "HTTP monitor port passed as -m; 0 disables"),
  doc(
    "NATS_SYS_USER_CRED_PATH",
    undefined,
    "system account user creds; relative = under NATS_CREDS_DIR",
    "unset, so no claims push, live delete or purge",
  ),
  doc("NATS_CLIENT_URL", "nats://127.0.0.1:4222", "URL the supervisor's admin connection uses"),
  doc(
    "NATS_JETSTREAM_STORE_DIR",
    undefined,
    "JetStream store dir",
    "what the running server reports",
  ),
  doc("POT_NATS_LOG_LEVEL", "info", "debug | info | warn | error"),
  doc("POT_NATS_LOG_FORMAT", "text", "text | json: one object per line"),
  doc("POT_NATS_CONF_WAIT_SECONDS", "30", "how long to wait for NATS_CONF to appear at start"),
  doc(
    "POT_NATS_STOP_TIMEOUT_SECONDS",
    "30",
    "how long a stop may take before nats-server is killed",
  ),
  doc("POT_NATS_LAME_DUCK", "false", "true: SIGTERM puts nats-server in lame-duck mode first"),
  doc(
    "POT_NATS_DEBOUNCE_MS",
    "100",
    "quiet time after the last write in place before acting (a commit acts at once)",
  ),
  doc("POT_NATS_RESCAN_SECONDS", "30", "periodic re-scan of watched paths; 0 disables"),
  doc(
    "POT_NATS_MAX_FILE_BYTES",
    String(DEFAULT_MAX_FILE_BYTES),
    "largest file read from a watched path; larger ones are skipped",
  ),
  doc(
    "POT_NATS_CLIENT_TLS_CA",
    undefined,
    "CA for the admin connection",
    "NATS_SSL_DIR/ca.crt when present",
  ),
  doc(
    "POT_NATS_CLIENT_TLS_CERT",
    undefined,
    "client certificate for the admin connection",
    "NATS_SSL_DIR/tls.crt when present",
  ),
  doc(
    "POT_NATS_CLIENT_TLS_KEY",
    undefined,
    "client key for the admin connection",
    "NATS_SSL_DIR/tls.key when present",
  ),
  doc(
    "POT_NATS_OPERATOR_SIGNING_KEY",
    undefined,
    "operator or operator signing key seed file: removed accounts are deleted live",
    "unset, so removed accounts stay loaded until nats-server restarts",
  ),
  doc("POT_NATS_PURGE_GRACE_SECONDS", "60", "an account must be gone this long before a purge"),
  doc(
    "POT_NATS_PURGE_MAX",
    undefined,
    "most accounts one purge run may remove",
    "half the accounts with data, at least 1",
  ),
  doc("POT_NATS_PURGE_DRY_RUN", "false", "true: log the purge plan, purge nothing"),
  doc(
    "POT_NATS_REMOVE_MAX",
    undefined,
    "most accounts one mirror pass may remove from the resolver",
    "half the accounts in the resolver dir, at least 1",
  ),
  doc("POT_NATS_HTTP_PORT", "8223", "the supervisor's /metrics, /status, /healthz, /readyz; 0 off"),
  doc("POT_NATS_HTTP_HOST", "0.0.0.0", "address the HTTP endpoint listens on"),
  doc("POT_NATS_EXPIRY_WARN_DAYS", "7", "warn (daily, and in a metric) of JWTs expiring this soon"),
];

/** A setting with a default value, or (`value` undefined) with the phrase that says what applies. */
function doc(
  name: string,
  value: string | undefined,
  description: string,
  phrase?: string,
): SettingDoc {
  const defaultText = phrase ?? value;
  if (defaultText === undefined) throw new Error(`internal: setting ${name} has no default phrase`);
  return { name, default: value, defaultText, description };
}

/** Thrown for a setting the operator must fix; the message is meant to be printed as is. */
export class SettingsError extends Error {
  override name = "SettingsError";
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads every setting from `env`.
 * @returns the settings, paths made absolute against `cwd`.
 * @throws {SettingsError} listing every bad value at once.
 */
export function parseSettings(env: Env, cwd: string): Settings {
  const reader = new EnvReader(env, cwd);
  const credsDir = reader.path("NATS_CREDS_DIR");
  const sysCreds = reader.optional("NATS_SYS_USER_CRED_PATH");
  const settings: Settings = {
    confPath: reader.path("NATS_CONF"),
    accountsPath: reader.path("NATS_ACCOUNTS"),
    sslDir: reader.path("NATS_SSL_DIR"),
    jwtDir: reader.path("NATS_JWT_DIR"),
    jwtMountDir: reader.path("NATS_JWT_MOUNT_DIR"),
    mode: reader.oneOf("NATS_SERVER_MODE", ["server", "leaf"] as const),
    credsDir,
    serverBin: reader.string("NATS_SERVER_BIN"),
    monitorPort: reader.integer("NATS_MONITOR_PORT", 0, 65535),
    sysUserCredPath: sysCreds === undefined
      ? undefined
      : (isAbsolute(sysCreds) ? sysCreds : join(credsDir, sysCreds)),
    clientUrl: reader.url("NATS_CLIENT_URL"),
    jetstreamStoreDir: reader.optionalPath("NATS_JETSTREAM_STORE_DIR"),
    logLevel: reader.oneOf("POT_NATS_LOG_LEVEL", ["debug", "info", "warn", "error"] as const),
    logFormat: reader.oneOf("POT_NATS_LOG_FORMAT", ["text", "json"] as const),
    confWaitSeconds: reader.integer("POT_NATS_CONF_WAIT_SECONDS", 0, 86400),
    stopTimeoutSeconds: reader.integer("POT_NATS_STOP_TIMEOUT_SECONDS", 1, 86400),
    lameDuck: reader.boolean("POT_NATS_LAME_DUCK"),
    debounceMs: reader.integer("POT_NATS_DEBOUNCE_MS", 0, 60000),
    rescanSeconds: reader.integer("POT_NATS_RESCAN_SECONDS", 0, 86400),
    maxFileBytes: reader.integer("POT_NATS_MAX_FILE_BYTES", 1024, 1073741824),
    clientTls: {
      ca: reader.optionalPath("POT_NATS_CLIENT_TLS_CA"),
      cert: reader.optionalPath("POT_NATS_CLIENT_TLS_CERT"),
      key: reader.optionalPath("POT_NATS_CLIENT_TLS_KEY"),
    },
    operatorSigningKeyPath: reader.optionalPath("POT_NATS_OPERATOR_SIGNING_KEY"),
    purgeGraceSeconds: reader.integer("POT_NATS_PURGE_GRACE_SECONDS", 0, 31536000),
    purgeMax: reader.optionalInteger("POT_NATS_PURGE_MAX", 0, 1000000),
    purgeDryRun: reader.boolean("POT_NATS_PURGE_DRY_RUN"),
    removeMax: reader.optionalInteger("POT_NATS_REMOVE_MAX", 0, 1000000),
    httpPort: reader.integer("POT_NATS_HTTP_PORT", 0, 65535),
    httpHost: reader.host("POT_NATS_HTTP_HOST"),
    expiryWarnDays: reader.integer("POT_NATS_EXPIRY_WARN_DAYS", 0, 3650),
  };
  reader.throwIfErrors();
  return settings;
}

/** Collects every bad value rather than stopping at the first, so one restart fixes them all. */
class EnvReader {
  readonly #errors: string[] = [];
  readonly #docs = new Map(SETTING_DOCS.map((d) => [d.name, d]));

  constructor(readonly env: Env, readonly cwd: string) {}

  /** The raw value, or the documented default; undefined only for settings without one. */
  optional(name: string): string | undefined {
    const spec = this.#docs.get(name);
    if (!spec) throw new Error(`internal: setting ${name} is not documented in SETTING_DOCS`);
    const raw = this.env[name];
    return raw === undefined || raw === "" ? spec.default : raw;
  }

  string(name: string): string {
    const value = this.optional(name);
    if (value === undefined) throw new Error(`internal: setting ${name} has no default`);
    return value;
  }

  path(name: string): string {
    return resolve(this.cwd, this.string(name));
  }

  optionalPath(name: string): string | undefined {
    const value = this.optional(name);
    return value === undefined ? undefined : resolve(this.cwd, value);
  }

  oneOf<T extends string>(name: string, accepted: readonly T[]): T {
    const value = this.string(name);
    if ((accepted as readonly string[]).includes(value)) return value as T;
    return this.#fail(name, value, `one of ${accepted.join(", ")}`, accepted[0] as T);
  }

  integer(name: string, min: number, max: number): number {
    return this.#integerFrom(name, this.string(name), min, max);
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    const value = this.optional(name);
    return value === undefined ? undefined : this.#integerFrom(name, value, min, max);
  }

  boolean(name: string): boolean {
    const value = this.string(name).toLowerCase();
    if (value === "true") return true;
    if (value === "false") return false;
    return this.#fail(name, this.string(name), "true or false", false);
  }

  /** A host name or an IP address (an IPv6 one with or without brackets). */
  host(name: string): string {
    const value = this.string(name);
    const bare = value.replace(/^\[(.*)\]$/, "$1");
    if (/^[A-Za-z0-9.-]+$/.test(bare) || /^[0-9A-Fa-f:.]+$/.test(bare) && bare.includes(":")) {
      return bare;
    }
    return this.#fail(name, value, "a host name or an IP address like 0.0.0.0 or ::", value);
  }

  url(name: string): string {
    const value = this.string(name);
    if (URL.canParse(value) && /^(nats|tls|ws|wss):\/\/./.test(value)) return value;
    return this.#fail(name, value, "a URL like nats://127.0.0.1:4222 or tls://host:4222", value);
  }

  throwIfErrors(): void {
    if (this.#errors.length > 0) throw new SettingsError(this.#errors.join("\n"));
  }

  #integerFrom(name: string, value: string, min: number, max: number): number {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    return this.#fail(name, value, `an integer from ${min} to ${max}`, min);
  }

  #fail<T>(name: string, value: string, accepted: string, placeholder: T): T {
    this.#errors.push(`${name} must be ${accepted}, got ${JSON.stringify(value)}`);
    return placeholder;
  }
}

/** The `--help` text: usage, every setting with its one default phrase, and the exit statuses. */
export function helpText(version: string): string {
  const width = Math.max(...SETTING_DOCS.map((d) => d.name.length));
  const rows = SETTING_DOCS.map((d) =>
    `  ${d.name.padEnd(width)}  ${d.description} (default: ${d.defaultText})`
  );
  const statusWidth = Math.max(...EXIT_STATUSES.map((s) => s.status.length));
  return [
    `pot-nats ${version}: supervisor for nats-server`,
    "",
    "Usage:",
    "  pot-nats [-- <extra nats-server arguments>]   run nats-server and keep it in step with mounts",
    "  pot-nats --check      validate the settings and the server config (nats-server -t), then exit",
    "  pot-nats --version    print the supervisor's and nats-server's versions",
    "  pot-nats healthcheck  exit 0 when nats-server answers /healthz on the monitor port",
    "  pot-nats --help       this text",
    "",
    "Settings (environment variables; empty counts as unset):",
    ...rows,
    "",
    "Exit status:",
    ...EXIT_STATUSES.map((s) => `  ${s.status.padEnd(statusWidth)}  ${s.meaning}`),
  ].join("\n");
}
