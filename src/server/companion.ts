/**
 * What runs beside nats-server, as the supervisor sees it: the change pipeline and the admin jobs
 * each are a {@linkcode Companion}, with hooks for the moments of the child's life.
 *
 * @module
 */

import type { ServerProcess } from "./server_process.ts";

/** What runs beside nats-server: the change pipeline and the admin jobs. */
export interface Companion {
  /** Runs before nats-server starts (e.g. the first JWT mirror). */
  beforeStart?(): Promise<void>;
  /** Runs once nats-server has been spawned; may use the server for reloads and restarts. */
  start?(server: ServerProcess): void | Promise<void>;
  /**
   * A stop has begun: let go of connections to nats-server before it is signalled (our own
   * connection is a client too, and lame-duck mode waits while clients are connected).
   */
  beforeStop?(): void | Promise<void>;
  /** Stops everything it started; called once nats-server has exited for good. */
  close?(): Promise<void>;
}

/** One companion made of several: started in order, closed in order. */
export function combine(...companions: Companion[]): Companion {
  return {
    async beforeStart() {
      for (const companion of companions) await companion.beforeStart?.();
    },
    async start(server) {
      for (const companion of companions) await companion.start?.(server);
    },
    async beforeStop() {
      await Promise.all(companions.map((companion) => companion.beforeStop?.()));
    },
    async close() {
      for (const companion of companions) await companion.close?.();
    },
  };
}
