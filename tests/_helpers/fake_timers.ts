/**
 * A manual clock for unit tests of code that takes its timers as a dependency (`Timers` in
 * `src/watch/debounce.ts`): timers fire only when the test moves the clock, in time order (ties in
 * the order they were set).
 */

import type { Timers } from "../../src/shared/timing.ts";

interface Timer {
  at: number;
  fn: () => void;
}

export class FakeTimers implements Timers {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** How many timers are scheduled and not yet fired or cleared. */
  get scheduled(): number {
    return this.#timers.size;
  }

  /** Moves the clock forward by `ms`, firing due timers in order. */
  advanceSync(ms: number): void {
    const target = this.#now + ms;
    for (let next = this.#next(target); next; next = this.#next(target)) this.#fire(next);
    this.#now = target;
  }

  /**
   * Moves the clock forward by `ms`, firing due timers in order and letting every promise callback
   * run after each (so async work a timer starts gets as far as it can before the next one fires).
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (let next = this.#next(target); next; next = this.#next(target)) {
      this.#fire(next);
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #next(target: number): [number, Timer] | undefined {
    let next: [number, Timer] | undefined;
    for (const entry of this.#timers) {
      if (entry[1].at <= target && (next === undefined || entry[1].at < next[1].at)) next = entry;
    }
    return next;
  }

  #fire([id, timer]: [number, Timer]): void {
    this.#timers.delete(id);
    this.#now = timer.at;
    timer.fn();
  }
}

/** Lets every queued promise callback run: a macrotask runs only once the microtask queue is empty. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
