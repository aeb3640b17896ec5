/**
 * The admin jobs, loaded only once nats-server has been spawned: they need the NATS client, whose
 * loading takes tens of milliseconds that the server's own start-up now overlaps, instead of
 * delaying the spawn. Until then, and while loading, calls are queued in order.
 *
 * @module
 */

import type { AdminJobs } from "./jobs.ts";
import type { JwtChanges } from "../mirror/mirror.ts";
import type { Logger } from "../shared/log.ts";
import type { Settings } from "../cli/settings.ts";
import type { Companion } from "../server/companion.ts";

type AdminJobsOptions = ConstructorParameters<typeof AdminJobs>[2];
/** What of the admin jobs the supervisor uses. */
export type AdminJobsLike = Pick<
  AdminJobs,
  "start" | "onJwtChanges" | "deleteRemoved" | "beforeStop" | "close"
>;

export class LazyAdminJobs implements Companion {
  readonly #make: () => Promise<AdminJobsLike>;
  #jobs: Promise<AdminJobsLike> | undefined;

  /** @param make loads and makes the jobs; called once, by the first call that needs them */
  constructor(make: () => Promise<AdminJobsLike>) {
    this.#make = make;
  }

  /** The real admin jobs, from `jobs.ts`, loaded on first use. */
  static of(settings: Settings, log: Logger, options: AdminJobsOptions): LazyAdminJobs {
    return new LazyAdminJobs(async () => {
      const { AdminJobs } = await import("./jobs.ts");
      return new AdminJobs(settings, log, options);
    });
  }

  /** Loads the jobs (once) and starts them: the first full push and reconcile. */
  async start(): Promise<void> {
    (await this.#load()).start();
  }

  /** Queues what a mirror pass changed, in order with earlier calls. */
  onJwtChanges(changes: JwtChanges): void {
    // A failed load is start()'s to report: the supervisor ends with it.
    this.#load().then((jobs) => jobs.onJwtChanges(changes), () => {});
  }

  /** See `AdminJobs.deleteRemoved`. */
  async deleteRemoved(accounts: string[]): Promise<void> {
    await (await this.#load()).deleteRemoved(accounts);
  }

  async beforeStop(): Promise<void> {
    if (this.#jobs) await (await this.#jobs).beforeStop();
  }

  async close(): Promise<void> {
    if (this.#jobs) await (await this.#jobs).close();
  }

  #load(): Promise<AdminJobsLike> {
    this.#jobs ??= this.#make();
    return this.#jobs;
  }
}
