/**
 * Waiting, the one way: `node:timers/promises`, whose timers can be cancelled, so that no wait
 * holds the process (or a stop) up after it stopped mattering.
 *
 * @module
 */

import { setTimeout as sleep } from "node:timers/promises";

/** Resolves after `ms`, or at once when `signal` aborts; never rejects for the abort. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}

/**
 * Waits for `promise`, but at most `ms`; the timer is cancelled either way.
 * @returns true when the promise settled (resolved or rejected) in time
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      sleep(ms, false, { signal: timer.signal }),
    ]);
  } finally {
    timer.abort();
  }
}

/** A clock and timers (the debouncer's, the directory check's, the stop deadlines'); tests pass a fake. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(id: number): void;
}

/**
 * The real clock and timers. Deno 2.9's global `setTimeout` returns a Node-style `Timeout` object;
 * its numeric id (via `Number()`) is accepted by `clearTimeout`.
 */
export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => Number(setTimeout(fn, ms)),
  clearTimeout: (id) => clearTimeout(id),
};
