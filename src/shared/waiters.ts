/**
 * Callers waiting for a value that is not there yet (a connection that is not up): each gets a
 * promise that the owner settles for all of them at once, or that its own abort signal rejects.
 *
 * @module
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export class Waiters<T> {
  readonly #waiters = new Set<Waiter<T>>();

  /**
   * A promise for the next value handed to {@linkcode Waiters.resolveAll}.
   * @throws (the promise rejects) the signal's reason when `signal` aborts first, or the error
   *   handed to {@linkcode Waiters.rejectAll}
   */
  wait(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Settles every waiting promise with `value`. */
  resolveAll(value: T): void {
    for (const waiter of this.#waiters) waiter.resolve(value);
    this.#waiters.clear();
  }

  /** Rejects every waiting promise with `error`. */
  rejectAll(error: unknown): void {
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
  }
}
