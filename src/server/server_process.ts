/**
 * Owns the nats-server child process: starts it, passes signals on, stops it within a deadline
 * (then kills it), restarts it gracefully, and reports how it ended.
 *
 * The child's stdout and stderr are inherited, not piped: the supervisor never reads them, so a very
 * long or very fast log line can never stall the server on a full pipe.
 */

import type { Logger } from "../shared/log.ts";
import { realTimers, settledWithin, type Timers } from "../shared/timing.ts";
import { Report } from "../report/report.ts";

/** The part of `Deno.ChildProcess` the supervisor uses; tests may pass their own. */
export interface ChildHandle {
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  kill(signal?: Deno.Signal): void;
}

export interface SpawnRequest {
  bin: string;
  args: string[];
  cwd: string;
}

export type Spawner = (request: SpawnRequest) => ChildHandle;

/** Spawns with the supervisor's environment and inherited stdio. */
export function spawnInherited(request: SpawnRequest): ChildHandle {
  return new Deno.Command(request.bin, {
    args: request.args,
    cwd: request.cwd,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

export interface ServerProcessOptions {
  request: SpawnRequest;
  log: Logger;
  stopTimeoutMs: number;
  spawn?: Spawner;
  /** Where the child's state and restarts are reported (default: a report nobody reads). */
  report?: Report;
  /** The timer of the kill deadline (default: the real one). */
  timers?: Pick<Timers, "setTimeout" | "clearTimeout">;
}

/**
 * How long an exit that nobody asked for waits for a stop request before it counts as unexpected.
 * A terminal's Ctrl-C sends SIGINT to the whole process group: nats-server may exit before the
 * supervisor has handled its own copy of the signal (seen in 6 of 7 tries before this wait).
 */
const STOP_REQUEST_WINDOW_MS = 250;

/**
 * Runs nats-server until it exits for good. `run()` resolves with the exit code the supervisor should
 * exit with; a restart asked for with `restart()` is not an exit.
 */
export class ServerProcess {
  readonly #options: ServerProcessOptions;
  readonly #spawn: Spawner;
  readonly #timers: Pick<Timers, "setTimeout" | "clearTimeout">;
  #child: ChildHandle | undefined;
  #stopping = false;
  /** Resolves once a stop has been asked for. */
  readonly #stopRequested: PromiseWithResolvers<void> = Promise.withResolvers();
  #restarting = false;
  #killTimer: number | undefined;
  #started: PromiseWithResolvers<void> = Promise.withResolvers();
  /** Resolves once run() has returned or thrown: no child will start after that. */
  readonly #ended: PromiseWithResolvers<void> = Promise.withResolvers();

  readonly #report: Report;

  constructor(options: ServerProcessOptions) {
    this.#options = options;
    this.#spawn = options.spawn ?? spawnInherited;
    this.#report = options.report ?? Report.unread();
    this.#timers = options.timers ?? realTimers;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Resolves once the next (or current) child has been spawned. */
  whenStarted(): Promise<void> {
    return this.#started.promise;
  }

  /**
   * Starts nats-server and keeps it running across restarts.
   * @returns the exit code to exit with: the child's code, or 128+n if it died of signal n.
   * @throws when the binary cannot be started (missing, not executable).
   */
  async run(): Promise<number> {
    try {
      return await this.#runChildren();
    } finally {
      this.#ended.resolve();
    }
  }

  async #runChildren(): Promise<number> {
    const { log, request } = this.#options;
    while (true) {
      const child = this.#startChild();
      const status = await child.status;
      this.#clearKillTimer();
      this.#child = undefined;
      this.#report.metrics.serverUp.set(0);
      // Deno reports a child killed by signal n with code 128+n, as a shell does.
      const code = status.code;
      if (!this.#stopping && !this.#restarting) await this.#stopRequestedWithin();
      if (this.#stopping) {
        log.info("nats-server stopped", { code, signal: status.signal ?? undefined });
        this.#report.status.serverState("exited", code);
        return code;
      }
      if (this.#restarting) {
        this.#restarting = false;
        log.info("nats-server stopped for restart; starting it again", { code });
        continue;
      }
      log.error("nats-server exited unexpectedly; exiting with its status", {
        code,
        signal: status.signal ?? undefined,
        bin: request.bin,
      });
      this.#report.status.serverState("exited", code);
      return code;
    }
  }

  /** Passes a signal to the running child; returns false when there is none. */
  signal(signal: Deno.Signal): boolean {
    const child = this.#child;
    if (!child) return false;
    try {
      child.kill(signal);
      return true;
    } catch (error) {
      // The child exited between the check and the kill: nothing to deliver to.
      this.#options.log.debug("signal not delivered: nats-server already exited", {
        signal,
        error,
      });
      return false;
    }
  }

  /**
   * A stop has been asked for and will follow (the supervisor first lets go of its own
   * connections): from now on an exit of nats-server is a stop, not a failure.
   */
  expectStop(): void {
    this.#stopping = true;
    this.#report.status.serverState("stopping");
    this.#stopRequested.resolve();
  }

  /**
   * Stops nats-server for good: sends `signal`, then SIGKILL once the stop timeout has passed.
   * A later call (a second signal) passes its signal on but keeps the first deadline.
   */
  stop(signal: Deno.Signal): void {
    const first = this.#killTimer === undefined || !this.#stopping;
    this.expectStop();
    this.signal(signal);
    if (first && this.#child) this.#armKillTimer("stop");
  }

  /** Waits a moment for a stop request that may be on its way (see STOP_REQUEST_WINDOW_MS). */
  async #stopRequestedWithin(): Promise<void> {
    await settledWithin(this.#stopRequested.promise, STOP_REQUEST_WINDOW_MS);
  }

  /**
   * Restarts nats-server gracefully (SIGINT, wait, start again). Resolves once the new child runs,
   * at once when a stop is under way, or when run() ends first (a stop always wins over a restart).
   */
  async restart(): Promise<void> {
    if (this.#stopping || !this.#child) return;
    this.#restarting = true;
    this.#report.status.serverState("restarting");
    this.#report.metrics.serverRestarts.inc();
    this.#started = Promise.withResolvers();
    this.signal("SIGINT");
    this.#armKillTimer("restart");
    await Promise.race([this.#started.promise, this.#ended.promise]);
  }

  #startChild(): ChildHandle {
    const { request, log } = this.#options;
    let child: ChildHandle;
    try {
      child = this.#spawn(request);
    } catch (error) {
      throw new Error(
        `cannot start nats-server "${request.bin}": ${(error as Error).message}; ` +
          `set NATS_SERVER_BIN to the path of a nats-server 2.10+ binary`,
      );
    }
    this.#child = child;
    this.#report.status.serverStarted(child.pid);
    this.#report.metrics.serverUp.set(1);
    log.info("nats-server started", { pid: child.pid, args: request.args.join(" ") });
    this.#started.resolve();
    return child;
  }

  #armKillTimer(reason: string): void {
    this.#clearKillTimer();
    const { stopTimeoutMs, log } = this.#options;
    const child = this.#child;
    this.#killTimer = this.#timers.setTimeout(() => {
      if (this.#child !== child) return;
      log.warn(`nats-server did not ${reason} within ${stopTimeoutMs} ms; killing it`, {
        hint: "raise POT_NATS_STOP_TIMEOUT_SECONDS if the server needs longer",
      });
      this.signal("SIGKILL");
    }, stopTimeoutMs);
  }

  #clearKillTimer(): void {
    if (this.#killTimer !== undefined) this.#timers.clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
  }
}
