/**
 * Coalesces bursts of file events into runs of one async action.
 *
 * `Deno.watchFs` reports thousands of events for one change (a kubelet volume swap, a thousand JWTs
 * rewritten), and each event only means "something may have changed". A {@linkcode Debouncer}
 * turns such a burst into one run of a re-scan, never runs two re-scans at once, and never loses
 * an event that arrives while a re-scan is running.
 *
 * @module
 */

import { realTimers, type Timers } from "../shared/timing.ts";

/**
 * What a trigger reports:
 * - `write`: a file may still be being written: run `debounceMs` after the last such trigger;
 * - `commit`: a change complete as it arrived (see `commits.ts`): run `commitMs` after it;
 * - `check`: only "look again" (a directory check, a re-armed watcher, a re-scan): run within
 *   `debounceMs`, but never later than a run already due.
 */
export type TriggerKind = "write" | "commit" | "check";

/** How long to wait before running. */
export interface DebounceOptions {
  /** Run this long after the last trigger of a burst. */
  debounceMs: number;
  /** ...but never later than this long after the first trigger of the burst. */
  maxWaitMs: number;
  /**
   * Run this long after a `commit` trigger (default: `debounceMs`). A commit (a kubelet `..data`
   * swap, a rename into place; see `commits.ts`) is complete as it arrives, so there is nothing to
   * wait for but the rest of the same burst.
   */
  commitMs?: number;
  /** Clock and timers; the real ones by default. */
  timers?: Timers;
}

/**
 * Trailing debounce with a maximum wait: `trigger()` (re)starts a `debounceMs` timer; the action
 * runs `debounceMs` after the LAST trigger, but never later than `maxWaitMs` after the FIRST
 * trigger of the burst. The action is told when that first trigger came (the clock's time), so a
 * caller can measure how long a change took from its first event to its effect.
 *
 * Triggers that arrive while the action runs are not lost: they cause exactly one more run after
 * it finishes (still respecting the debounce from the last trigger). Runs never overlap. An error
 * thrown by the action goes to `onError` and does not stop later runs; `onError` itself must not
 * throw.
 *
 * `close()` (or `await using`) cancels the timer, drops pending work, ignores later triggers, and
 * resolves once a running action has finished.
 */
export class Debouncer implements AsyncDisposable {
  readonly #action: (firstTriggerAt: number) => Promise<void>;
  readonly #onError: (e: unknown) => void;
  readonly #debounceMs: number;
  readonly #maxWaitMs: number;
  readonly #commitMs: number;
  readonly #timers: Timers;
  #timer: number | undefined;
  /** When the first trigger of the pending burst arrived; undefined when nothing is pending. */
  #burstStart: number | undefined;
  /** When the pending run is due (the clock's time); undefined when none is scheduled. */
  #runAt: number | undefined;
  /** The timer fired while the action was running: run again as soon as it finishes. */
  #dueWhileRunning = false;
  #running: Promise<void> | undefined;
  #closed = false;

  /**
   * @throws {RangeError} when `debounceMs` or `maxWaitMs` is negative or not finite, or
   *   `maxWaitMs` is shorter than `debounceMs`.
   */
  constructor(
    action: (firstTriggerAt: number) => Promise<void>,
    options: DebounceOptions & { onError: (e: unknown) => void },
  ) {
    const { debounceMs, maxWaitMs } = options;
    if (!Number.isFinite(debounceMs) || debounceMs < 0) {
      throw new RangeError(`debounceMs must be a non-negative number, got ${debounceMs}`);
    }
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < debounceMs) {
      throw new RangeError(
        `maxWaitMs must be a number no smaller than debounceMs (${debounceMs}), got ${maxWaitMs}`,
      );
    }
    const commitMs = options.commitMs ?? debounceMs;
    if (!Number.isFinite(commitMs) || commitMs < 0 || commitMs > debounceMs) {
      throw new RangeError(
        `commitMs must be a number from 0 to debounceMs (${debounceMs}), got ${commitMs}`,
      );
    }
    this.#commitMs = commitMs;
    this.#action = action;
    this.#onError = options.onError;
    this.#debounceMs = debounceMs;
    this.#maxWaitMs = maxWaitMs;
    this.#timers = options.timers ?? realTimers;
  }

  /** Whether the action is running now. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Whether triggers are waiting for a run that has not started yet. */
  get pending(): boolean {
    return this.#burstStart !== undefined;
  }

  /**
   * Notes that something may have changed (see {@linkcode TriggerKind}). Ignored after `close()`.
   * The caller tells a commit only when no file it knows of is still being written.
   */
  trigger(kind: TriggerKind = "write"): void {
    if (this.#closed) return;
    const now = this.#timers.now();
    this.#burstStart ??= now;
    this.#dueWhileRunning = false;
    let runAt = now + (kind === "commit" ? this.#commitMs : this.#debounceMs);
    if (kind === "check" && this.#runAt !== undefined) runAt = Math.min(runAt, this.#runAt);
    runAt = Math.min(runAt, this.#burstStart + this.#maxWaitMs);
    this.#clearTimer();
    this.#runAt = runAt;
    this.#timer = this.#timers.setTimeout(() => this.#onTimer(), Math.max(0, runAt - now));
  }

  /**
   * Runs pending work now instead of waiting for the timer: waits for a running action, then runs
   * once more if anything was triggered and not yet handled.
   *
   * @returns once the triggers that arrived before the call have been handled.
   */
  async flush(): Promise<void> {
    if (this.#running) await this.#running;
    // A run may have started by itself when the one above finished; it covers the pending work.
    if (this.#running) return await this.#running;
    if (this.pending && !this.#closed) await this.#start();
  }

  /** Cancels the timer and pending work; resolves once a running action has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    this.#burstStart = undefined;
    this.#dueWhileRunning = false;
    if (this.#running) await this.#running;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#runAt = undefined;
    if (this.#running) this.#dueWhileRunning = true;
    else void this.#start();
  }

  #clearTimer(): void {
    this.#runAt = undefined;
    if (this.#timer === undefined) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Starts a run. The returned promise rejects only if `onError` throws. */
  #start(): Promise<void> {
    this.#clearTimer();
    const firstTriggerAt = this.#burstStart ?? this.#timers.now();
    this.#burstStart = undefined;
    this.#dueWhileRunning = false;
    const run = this.#runAction(firstTriggerAt).finally(() => {
      this.#running = undefined;
      if (this.#dueWhileRunning && !this.#closed) void this.#start();
    });
    this.#running = run;
    return run;
  }

  async #runAction(firstTriggerAt: number): Promise<void> {
    try {
      await this.#action(firstTriggerAt);
    } catch (e) {
      this.#onError(e);
    }
  }
}
