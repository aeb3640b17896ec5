import assert from "node:assert/strict";
import { type AdminJobsLike, LazyAdminJobs } from "./lazy_jobs.ts";
import type { JwtChanges } from "../mirror/mirror.ts";

/** Admin jobs that write down every call, made by a loader that counts its loads. */
function recording() {
  const calls: string[] = [];
  let loads = 0;
  const gate = Promise.withResolvers<void>();
  const jobs: AdminJobsLike = {
    start: () => void calls.push("start"),
    onJwtChanges: (changes) => void calls.push(`changes ${changes.added.join(",")}`),
    deleteRemoved: (accounts) => Promise.resolve(void calls.push(`delete ${accounts}`)),
    beforeStop: () => Promise.resolve(void calls.push("beforeStop")),
    close: () => Promise.resolve(void calls.push("close")),
  };
  const lazy = new LazyAdminJobs(async () => {
    loads++;
    await gate.promise;
    return jobs;
  });
  return { lazy, calls, loaded: () => gate.resolve(), loads: () => loads };
}

const changes = (account: string) => ({ added: [account] }) as unknown as JwtChanges;

Deno.test("lazy admin jobs", async (t) => {
  await t.step(
    "nothing is loaded until a call needs the jobs; a stop before that is a no-op",
    async () => {
      const { lazy, calls, loads } = recording();
      await lazy.beforeStop();
      await lazy.close();
      assert.equal(loads(), 0);
      assert.deepEqual(calls, []);
    },
  );

  await t.step(
    "calls made while loading are carried out in order, the load done once",
    async () => {
      const { lazy, calls, loaded, loads } = recording();
      const started = lazy.start();
      lazy.onJwtChanges(changes("A"));
      const deleted = lazy.deleteRemoved(["B"]);
      lazy.onJwtChanges(changes("C"));
      assert.deepEqual(calls, [], "nothing before the load");
      loaded();
      await Promise.all([started, deleted]);
      await lazy.close();
      assert.deepEqual(calls, ["start", "changes A", "delete B", "changes C", "close"]);
      assert.equal(loads(), 1);
    },
  );

  await t.step("a failed load is start()'s error; queued changes are dropped quietly", async () => {
    const lazy = new LazyAdminJobs(() => Promise.reject(new Error("no module")));
    lazy.onJwtChanges(changes("A"));
    await assert.rejects(lazy.start(), /no module/);
  });
});
