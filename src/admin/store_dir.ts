/**
 * Finds the JetStream store dir of the supervised server, the directory whose `jetstream/`
 * subdirectory holds one directory per account with JetStream data (what a purge run lists).
 *
 * Sources, first answer wins:
 *   1. `NATS_JETSTREAM_STORE_DIR` (the `setting`), when set;
 *   2. the monitor port's `/varz` (`jetstream.config.store_dir`);
 *   3. `$SYS.REQ.SERVER.<id>.VARZ` over the admin connection, addressed to the server the
 *      connection is on (a `PING` would be answered by every server of a cluster);
 *   4. the config file (`store_dir` in the `jetstream` block, resolved against the config's dir,
 *      where the supervisor runs nats-server).
 *
 * The server reports its store dir with the `jetstream` level it appends itself
 * (`store_dir: "/data"` is reported as `/data/jetstream`); that level is removed, so every source
 * returns the configured store dir. `dir` is null when JetStream is disabled.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Logger, quote } from "../shared/log.ts";
import type { ServerView } from "../config/server_view.ts";
import { getMonitorJson } from "../shared/monitor.ts";
import { isRecord } from "../shared/errors.ts";

export type StoreDirSource = "setting" | "monitor" | "system account" | "config";

export interface StoreDirResult {
  /** The store dir (list `<dir>/jetstream/`), or null when JetStream is disabled. */
  dir: string | null;
  source: StoreDirSource;
}

export interface FindStoreDirOptions {
  /** `NATS_JETSTREAM_STORE_DIR`; empty counts as unset. Relative paths resolve against the cwd. */
  setting?: string;
  /** The monitor port passed as `-m`; 0 skips the monitor. */
  monitorPort: number;
  /** Host the monitor listens on (default 127.0.0.1). */
  monitorHost?: string;
  /** The admin (system account) connection, if it is up. */
  nc?: NatsConnection;
  /** The server config as last read (the last source); throws when it could not be read. */
  config: () => ServerView;
  /** Why a source gave no answer is logged at debug level. */
  log?: Logger;
  /** Timeout of the monitor and system account queries (ms, default 2000). */
  timeoutMs?: number;
}

/** The level nats-server adds under the configured store dir. */
const JETSTREAM_LEVEL = "jetstream";

/**
 * Asks the sources in order (see the module doc).
 * @returns the store dir and which source gave it
 * @throws when no earlier source answered and the config cannot be read or is malformed
 */
export async function findStoreDir(options: FindStoreDirOptions): Promise<StoreDirResult> {
  const timeoutMs = options.timeoutMs ?? 2000;
  if (options.setting) return { dir: resolve(options.setting), source: "setting" };

  if (options.monitorPort > 0) {
    const host = options.monitorHost ?? "127.0.0.1";
    try {
      const varz = await getMonitorJson(options.monitorPort, "varz", { host, timeoutMs });
      return { dir: storeDirFromVarz(varz, options.log), source: "monitor" };
    } catch (error) {
      options.log?.debug("could not read the store dir from the monitor port", { error });
    }
  }

  if (options.nc && !options.nc.isClosed()) {
    const id = options.nc.info?.server_id;
    const subject = id ? `$SYS.REQ.SERVER.${id}.VARZ` : "$SYS.REQ.SERVER.PING.VARZ";
    try {
      const reply = await options.nc.request(subject, "", { timeout: timeoutMs });
      const body = reply.json<{ data?: unknown; error?: unknown }>();
      if (!isRecord(body) || !isRecord(body.data)) {
        throw new Error(`unexpected reply: ${quote(reply.string())}`);
      }
      if (!id) {
        options.log?.debug(
          "the admin connection did not report its server's id; used the first server to answer",
        );
      }
      return { dir: storeDirFromVarz(body.data, options.log), source: "system account" };
    } catch (error) {
      options.log?.debug("could not read the store dir over the system account", {
        subject,
        error,
      });
    }
  }

  return { dir: options.config().storeDir(), source: "config" };
}

/** `jetstream.config.store_dir` of a varz document without the `jetstream` level; null when absent. */
function storeDirFromVarz(varz: unknown, log: Logger | undefined): string | null {
  const jetstream = isRecord(varz) ? varz.jetstream : undefined;
  const config = isRecord(jetstream) ? jetstream.config : undefined;
  const reported = isRecord(config) ? config.store_dir : undefined;
  // Without JetStream, varz carries `jetstream: {}`.
  if (typeof reported !== "string" || reported === "") return null;
  if (basename(reported) === JETSTREAM_LEVEL) return dirname(reported);
  log?.debug("the server reported a store dir without the jetstream level; using it as is", {
    store_dir: reported,
  });
  return reported;
}
