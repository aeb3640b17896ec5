/**
 * The supervisor's life cycle: wait for the config, prepare, start nats-server, keep it in step with
 * the mounts, and stop it when told to. Signals arrive through `onSignal`.
 */

import { dirname } from "node:path";
import type { Logger } from "../shared/log.ts";
import { findPortInUse } from "./port_check.ts";
import { ServerProcess, type Spawner } from "./server_process.ts";
import type { Settings } from "../cli/settings.ts";
import { decideSignal } from "./signals.ts";
import { waitForFile } from "../shared/wait_for_file.ts";
import { settledWithin } from "../shared/timing.ts";
import type { Companion } from "./companion.ts";
import type { Report } from "../report/report.ts";

/** Longest a stop waits for the companions to let go of their connections to nats-server. */
const RELEASE_MS = 1000;

/** Longest the companions' cleanup may hold up the exit after nats-server has exited. */
const CLOSE_MS = 5000;

export interface SupervisorOptions {
  settings: Settings;
  log: Logger;
  /** Extra nats-server arguments given after `--`. */
  extraArgs: string[];
  spawn?: Spawner;
  companion?: Companion;
  /** Where the child's state is reported (default: a report nobody reads). */
  report?: Report;
  /**
   * Says what is in the way when something already listens where nats-server will (default:
   * `findPortInUse` on the config); undefined when nothing is.
   */
  findPortInUse?: () => Promise<string | undefined>;
}

/** The arguments nats-server is started with. */
export function serverArgs(settings: Settings, extraArgs: readonly string[]): string[] {
  const monitor = settings.monitorPort === 0 ? [] : ["-m", String(settings.monitorPort)];
  return ["-c", settings.confPath, ...monitor, ...extraArgs];
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #stopRequested = new AbortController();
  #server: ServerProcess | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Handles one received signal; safe to call at any time, also before and after the run. */
  onSignal(signal: Deno.Signal): void {
    const { settings, log } = this.#options;
    const server = this.#server;
    const stopping = this.#stopRequested.signal.aborted;
    const action = decideSignal(signal, { lameDuck: settings.lameDuck, stopping });
    if (action.kind === "forward") {
      if (server?.signal(action.send)) log.info(`passed ${signal} on to nats-server`);
      else log.warn(`received ${signal} while nats-server is not running; ignored`);
      return;
    }
    log.info(`received ${signal}; stopping nats-server with ${action.send}`);
    if (stopping) {
      server?.stop(action.send);
      return;
    }
    // An exit of nats-server from now on is part of this stop (with a terminal's Ctrl-C the
    // server gets the signal too, and may be gone before the release below is done).
    server?.expectStop();
    this.#stopRequested.abort();
    void this.#releaseThenStop(action.send);
  }

  /**
   * Closes the companions, but never for longer than CLOSE_MS: once nats-server has exited, the
   * supervisor exits with its status even if some cleanup hangs (as PID 1 it must never linger).
   */
  async #closeCompanion(): Promise<void> {
    const { companion, log } = this.#options;
    if (!companion?.close) return;
    const closed = companion.close().catch((error) =>
      log.error("shutting down the watchers and admin jobs failed", { error })
    );
    if (!(await settledWithin(closed, CLOSE_MS))) {
      log.error(
        `shutting down the watchers and admin jobs took over ${CLOSE_MS} ms; exiting anyway`,
      );
    }
  }

  /** Lets go of our own connections (at most RELEASE_MS), then stops nats-server. */
  async #releaseThenStop(send: Deno.Signal): Promise<void> {
    const released = Promise.resolve(this.#options.companion?.beforeStop?.()).catch((error) =>
      this.#options.log.warn("closing the admin connection before the stop failed", { error })
    );
    await settledWithin(released, RELEASE_MS);
    this.#server?.stop(send);
  }

  /**
   * Runs until nats-server exits for good.
   * @returns the exit code for the supervisor.
   */
  async run(): Promise<number> {
    const { settings, log, companion } = this.#options;
    if (!(await this.#waitForConfig())) {
      if (this.#stopRequested.signal.aborted) return 0;
      log.error(
        `NATS_CONF ${settings.confPath} did not appear within ${settings.confWaitSeconds} s`,
        {
          hint: "mount the server config there, or raise POT_NATS_CONF_WAIT_SECONDS",
        },
      );
      return 1;
    }
    // Another server on our ports would make the child exit, and our admin connection would
    // then act on that server: refuse before anything is touched.
    const inUse = await this.#findPortInUse();
    if (inUse !== undefined) {
      log.error(inUse);
      return 1;
    }
    await companion?.beforeStart?.();
    if (this.#stopRequested.signal.aborted) return 0;
    const server = new ServerProcess({
      request: {
        bin: settings.serverBin,
        args: serverArgs(settings, this.#options.extraArgs),
        cwd: dirname(settings.confPath),
      },
      log,
      stopTimeoutMs: settings.stopTimeoutSeconds * 1000,
      ...(this.#options.spawn ? { spawn: this.#options.spawn } : {}),
      ...(this.#options.report ? { report: this.#options.report } : {}),
    });
    this.#server = server;
    const exited = server.run();
    try {
      // `exited` rejects when the binary cannot be spawned: never wait on a start that cannot come.
      await Promise.race([server.whenStarted(), exited]);
      await companion?.start?.(server);
      return await exited;
    } finally {
      await this.#closeCompanion();
    }
  }

  #findPortInUse(): Promise<string | undefined> {
    const { settings, log, extraArgs } = this.#options;
    if (this.#options.findPortInUse) return this.#options.findPortInUse();
    return findPortInUse({
      confPath: settings.confPath,
      monitorPort: settings.monitorPort,
      extraArgs,
      log,
    });
  }

  async #waitForConfig(): Promise<boolean> {
    const { settings, log } = this.#options;
    const options = {
      timeoutMs: settings.confWaitSeconds * 1000,
      signal: this.#stopRequested.signal,
    };
    if (await waitForFile(settings.confPath, { ...options, timeoutMs: 0 })) return true;
    log.info(`waiting up to ${settings.confWaitSeconds} s for NATS_CONF to appear`, {
      path: settings.confPath,
    });
    return await waitForFile(settings.confPath, options);
  }
}
