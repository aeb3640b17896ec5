/**
 * Where the demo lives and how its follow-up commands find it: the folder (`.demo/`, or
 * `POT_NATS_DEMO_DIR`), the ports (14222, 18222 and 18223, or `POT_NATS_DEMO_PORT`,
 * `POT_NATS_DEMO_MONITOR_PORT` and `POT_NATS_DEMO_HTTP_PORT`: for the tests, and for a second demo
 * beside the first), and the
 * folder's setup. The follow-ups read the client port from the folder's server config, so only a
 * folder other than the default needs saying again.
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { serverListenAddresses } from "../src/config/listen_addresses.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { readServerConfig } from "../src/config/format.ts";
import { type DevSetup, openDevSetup, serverConfigText } from "../dev/dev_setup.ts";
import { REPO_ROOT } from "./nats_server.ts";
import { type CommandForm, denoRunner, taskCommand } from "./demo_text.ts";

export const DEFAULT_DEMO_DIR = join(REPO_ROOT, ".demo");
export const DEMO_SERVER_NAME = "pot_nats_demo";

/** The demo's folder and ports, from the environment. */
export interface DemoLocation {
  dir: string;
  clientPort: number;
  monitorPort: number;
  /** The supervisor's own endpoint (`/status`, `/metrics`). */
  httpPort: number;
}

/**
 * @returns the location the environment asks for
 * @throws {RangeError} naming a variable whose value is not a port
 */
export function demoLocation(env: Readonly<Record<string, string | undefined>>): DemoLocation {
  const port = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (value >= 1 && value <= 65535) return value;
    throw new RangeError(`${name} must be a port from 1 to 65535, got ${JSON.stringify(raw)}`);
  };
  return {
    dir: env.POT_NATS_DEMO_DIR ? resolve(env.POT_NATS_DEMO_DIR) : DEFAULT_DEMO_DIR,
    clientPort: port("POT_NATS_DEMO_PORT", 14222),
    monitorPort: port("POT_NATS_DEMO_MONITOR_PORT", 18222),
    httpPort: port("POT_NATS_DEMO_HTTP_PORT", 18223),
  };
}

/** The folder as the user types it: relative when inside the repository (`.demo`). */
export function shownDir(dir: string): string {
  const inside = relative(REPO_ROOT, dir);
  return inside && !inside.startsWith("..") ? inside : dir;
}

/** How follow-up commands are written here: the runner PATH allows, the folder when not `.demo`. */
export function commandForm(location: DemoLocation): CommandForm {
  const runner = denoRunner({
    path: Deno.env.get("PATH"),
    denoVersion: Deno.version.deno,
    isExecutable: (file) => {
      try {
        const info = Deno.statSync(file);
        return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
      } catch {
        return false; // no such file on this PATH entry
      }
    },
  });
  return {
    runner,
    env: location.dir === DEFAULT_DEMO_DIR ? {} : { POT_NATS_DEMO_DIR: location.dir },
  };
}

/** The file holding the operator signing key's seed, for `POT_NATS_OPERATOR_SIGNING_KEY`. */
export function signingKeyPath(setup: DevSetup): string {
  return join(setup.dir, "operator-signing.nk");
}

/**
 * Opens the demo folder for a run, creating it on first use. A folder from an older demo, or one
 * started with other ports, is brought in step: its server config is rewritten for this run's
 * ports, and the operator signing key file (live deletes) is added when missing.
 */
export async function openDemoForRun(location: DemoLocation, serverBin: string): Promise<DevSetup> {
  const setup = await openDevSetup(location.dir, {
    clientPort: location.clientPort,
    monitorPort: location.monitorPort,
    httpPort: location.httpPort,
    serverBin,
    serverName: DEMO_SERVER_NAME,
  });
  const config = serverConfigText(setup);
  if ((await Deno.readTextFile(setup.confPath)) !== config) {
    await Deno.writeTextFile(setup.confPath, config);
  }
  if (!(await pathExists(signingKeyPath(setup)))) {
    await Deno.writeTextFile(signingKeyPath(setup), setup.operator.signingKey!.seed + "\n", {
      mode: 0o600,
    });
  }
  return setup;
}

/**
 * Opens an existing demo folder for a follow-up command; the client URL is the one its server
 * config names.
 * @throws an Error saying how to start a demo when the folder holds none
 */
export async function openDemoFolder(location: DemoLocation): Promise<DevSetup> {
  if (!(await pathExists(join(location.dir, "keys.json")))) {
    const start = taskCommand(commandForm(location), "demo");
    throw new Error(`no demo in ${shownDir(location.dir)}/; start one first: ${start}`);
  }
  const confPath = join(location.dir, "config", "server.conf");
  const [client] = serverListenAddresses(readServerConfig(confPath).root, {
    confPath,
    monitorPort: 0,
  });
  return await openDevSetup(location.dir, {
    clientPort: client?.port ?? location.clientPort,
    monitorPort: location.monitorPort,
    httpPort: location.httpPort,
    serverBin: "nats-server",
    serverName: DEMO_SERVER_NAME,
  });
}
