import assert from "node:assert/strict";
import { firstGone, launcherChain, parseProcStat, type ProcStat } from "./parent_watch.ts";

/** A stat line shaped like the kernel's, fields 23 on left out. */
function statLine(pid: number, comm: string, fields: { ppid: number; session: number }): string {
  const rest = ["S", fields.ppid, pid, fields.session, 0, -1, 4194560, 100, 0, 0, 0, 5, 2, 0, 0];
  return `${pid} (${comm}) ${rest.join(" ")} 20 0 1 0 ${1000 + pid} 12345 678`;
}

Deno.test("parent watch: /proc/<pid>/stat is read from the last parenthesis", () => {
  assert.deepEqual(parseProcStat(statLine(42, "deno task (x) y", { ppid: 7, session: 3 })), {
    pid: 42,
    ppid: 7,
    session: 3,
    state: "S",
    startTime: "1042",
  });
  assert.throws(() => parseProcStat("garbage"), TypeError);
});

Deno.test("parent watch: the launchers are the parents up through the session leader", () => {
  // 1 (init) -> 10 (sshd, own session) -> 20 (bash, session leader) -> 30 (npm exec)
  //   -> 31 (sh) -> 32 (deno task) -> 33 (the demo)
  const table = new Map<number, ProcStat>([
    [10, stat(10, 1, 10)],
    [20, stat(20, 10, 20)],
    [30, stat(30, 20, 20)],
    [31, stat(31, 30, 20)],
    [32, stat(32, 31, 20)],
    [33, stat(33, 32, 20)],
  ]);
  const chain = launcherChain(33, (pid) => table.get(pid));
  assert.deepEqual(chain.map((p) => p.pid), [32, 31, 30, 20]);

  assert.equal(firstGone(chain, (pid) => table.get(pid)), undefined);
  table.delete(30); // npx ended; sh may linger as a zombie
  table.set(31, { ...stat(31, 30, 20), state: "Z" });
  assert.equal(firstGone(chain, (pid) => table.get(pid))?.pid, 31);
  table.set(31, stat(31, 30, 20));
  assert.equal(firstGone(chain, (pid) => table.get(pid))?.pid, 30);
  table.set(30, { ...stat(30, 20, 20), startTime: "later" }); // the pid was reused
  assert.equal(firstGone(chain, (pid) => table.get(pid))?.pid, 30);
});

Deno.test("parent watch: an orphan or PID 1's child watches nothing above init", () => {
  const table = new Map<number, ProcStat>([[5, stat(5, 1, 5)]]);
  assert.deepEqual(launcherChain(5, (pid) => table.get(pid)), []);
  assert.deepEqual(launcherChain(99, (pid) => table.get(pid)), []);
});

function stat(pid: number, ppid: number, session: number): ProcStat {
  return { pid, ppid, session, state: "S", startTime: String(1000 + pid) };
}

Deno.test({
  name: "parent watch: this test's own chain reads from /proc",
  ignore: Deno.build.os !== "linux",
}, () => {
  const own = parseProcStat(Deno.readTextFileSync(`/proc/${Deno.pid}/stat`));
  assert.equal(own.pid, Deno.pid);
  assert.equal(own.ppid, Deno.ppid);
});
