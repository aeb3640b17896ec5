/**
 * Where nats-server will listen for clients and for monitoring, read from its config and command
 * line as nats-server reads them, so the supervisor can refuse to start when something already
 * listens there (another nats-server or pot-nats on the same ports would make the child exit,
 * and the admin connection would then talk to the other server) and can reach its own child's
 * monitor port.
 *
 * nats-server's rules (`server/opts.go`): `listen: "host:port"` (or just a port) sets both,
 * `port` the port, `host` or `net` the host; the host defaults to `0.0.0.0`, the port to 4222,
 * and `-1` means a random port. The monitor listens on the host of `http: "host:port"` (or
 * `https`), else on the client host; `-m` sets its port and overrides `http_port`/`monitor_port`.
 * Command-line flags come after the config and win.
 *
 * @module
 */

import { basename } from "node:path";
import type { ConfigMap, ConfigValue } from "./format.ts";

/** nats-server's default client port. */
export const DEFAULT_CLIENT_PORT = 4222;

/** One address nats-server will listen on, with what sets it (for an operator's message). */
export interface ListenAddress {
  role: "client" | "monitor";
  /** As configured; `0.0.0.0` when unset. */
  host: string;
  port: number;
  /** What sets the port, e.g. `port in server.conf`, `NATS_MONITOR_PORT`. */
  setting: string;
}

export interface ListenAddressOptions {
  /** The config file's path, to name it in `setting`. */
  confPath: string;
  /** `NATS_MONITOR_PORT` (0: no `-m` is passed). */
  monitorPort: number;
  /** The arguments given after `--`, passed to nats-server after `-c` and `-m`. */
  extraArgs?: readonly string[];
}

const DEFAULT_HOST = "0.0.0.0";

/**
 * The client and monitor addresses nats-server will listen on. A random port (`-1`, or 0) is
 * left out: nothing can be in its way. The monitor is left out when it is off.
 * @returns the client address first, then the monitor's (if on)
 */
export function serverListenAddresses(
  root: ConfigMap,
  options: ListenAddressOptions,
): ListenAddress[] {
  const file = basename(options.confPath);
  let host: string | undefined;
  let port: number | undefined;
  let portSetting = `the default client port ${DEFAULT_CLIENT_PORT} (no port in ${file})`;
  let httpHost: string | undefined;
  let httpPort: number | undefined;
  let httpSetting = "";
  // In file order: the last of several spellings wins, as far as nats-server decides at all (it
  // reads a map; a config setting both `listen` and `port` is ambiguous there too).
  for (const [key, value] of Object.entries(root)) {
    switch (key.toLowerCase()) {
      case "listen": {
        const parsed = parseListen(value);
        if (!parsed) break;
        host = parsed.host;
        port = parsed.port;
        portSetting = `${key} in ${file}`;
        break;
      }
      case "port":
        if (typeof value === "number") {
          port = value;
          portSetting = `${key} in ${file}`;
        }
        break;
      case "host":
      case "net":
        if (typeof value === "string") host = value;
        break;
      case "http":
      case "https": {
        const parsed = parseListen(value);
        if (!parsed) break;
        httpHost = parsed.host;
        if (key.toLowerCase() === "http") {
          httpPort = parsed.port;
          httpSetting = `${key} in ${file}`;
        }
        break;
      }
      case "http_port":
      case "monitor_port":
        if (typeof value === "number") {
          httpPort = value;
          httpSetting = `${key} in ${file}`;
        }
        break;
    }
  }
  if (options.monitorPort !== 0) {
    httpPort = options.monitorPort;
    httpSetting = "NATS_MONITOR_PORT";
  }
  const flags = parseFlags(options.extraArgs ?? []);
  if (flags.host !== undefined) host = flags.host;
  if (flags.port !== undefined) {
    port = flags.port;
    portSetting = `${flags.portFlag} in the arguments after --`;
  }
  if (flags.monitorPort !== undefined) {
    httpPort = flags.monitorPort;
    httpSetting = `${flags.monitorFlag} in the arguments after --`;
  }

  const clientHost = host || DEFAULT_HOST;
  const addresses: ListenAddress[] = [];
  const clientPort = port ?? DEFAULT_CLIENT_PORT;
  if (clientPort > 0) {
    addresses.push({ role: "client", host: clientHost, port: clientPort, setting: portSetting });
  }
  if (httpPort !== undefined && httpPort > 0) {
    addresses.push({
      role: "monitor",
      host: httpHost || clientHost,
      port: httpPort,
      setting: httpSetting,
    });
  }
  return addresses;
}

/** `listen`'s value: a port, or `host:port` (Go's `net.SplitHostPort`); undefined if malformed. */
function parseListen(value: ConfigValue): { host: string; port: number } | undefined {
  if (typeof value === "number") return { host: "", port: value };
  if (typeof value !== "string") return undefined;
  const match = value.match(/^(?:\[([^\]]*)\]|([^:]*)):(-?\d+)$/);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? "", port: Number(match[3]) };
}

interface Flags {
  host?: string;
  port?: number;
  portFlag?: string;
  monitorPort?: number;
  monitorFlag?: string;
}

/** nats-server's address flags (Go `flag` syntax: one or two dashes, `-p 4222` or `-p=4222`). */
function parseFlags(args: readonly string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const match = args[i]!.match(/^--?([a-z_]+)(?:=(.*))?$/);
    if (!match) continue;
    const name = match[1]!;
    const takesValue = ["p", "port", "a", "addr", "net", "m", "http_port"].includes(name);
    if (!takesValue) continue;
    const value = match[2] ?? args[++i];
    if (value === undefined) break;
    if (name === "a" || name === "addr" || name === "net") {
      flags.host = value;
      continue;
    }
    const port = Number(value);
    if (!Number.isInteger(port)) continue;
    if (name === "p" || name === "port") {
      flags.port = port;
      flags.portFlag = `-${name}`;
    } else {
      flags.monitorPort = port;
      flags.monitorFlag = `-${name}`;
    }
  }
  return flags;
}
