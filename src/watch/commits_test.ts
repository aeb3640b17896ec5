import assert from "node:assert/strict";
import { CommitTracker, type FileEvent } from "./commits.ts";

/** A tracker over a fake directory listing: `exists` holds the names present now. */
function tracker(...present: string[]) {
  const exists = new Set(present);
  return { tracker: new CommitTracker((path) => exists.has(path)), exists };
}

const event = (kind: FileEvent["kind"], ...paths: string[]): FileEvent => ({ kind, paths });

/** The events Deno 2.9 reports for `write .a.tmp; rename .a.tmp a.jwt`, in order. */
const atomicWrite = (temp: string, name: string): FileEvent[] => [
  event("create", temp),
  event("modify", temp),
  event("access", temp),
  event("remove", temp),
  event("rename", name),
  event("rename", temp, name),
];

Deno.test("commit tracker: which events report a finished change", async (t) => {
  await t.step("a temp file written and renamed into place: the last event commits", () => {
    const { tracker: commits } = tracker("a.jwt");
    const verdicts = atomicWrite(".a.tmp", "a.jwt").map((e) => commits.note(e, false));
    assert.deepEqual(verdicts, [false, false, false, false, false, true]);
  });

  await t.step("a write in place is never a commit", () => {
    const { tracker: commits } = tracker("a.jwt");
    for (const kind of ["create", "modify", "access"] as const) {
      assert.equal(commits.note(event(kind, "a.jwt"), false), false, kind);
    }
  });

  await t.step("a rename while another file is written in place does not commit", () => {
    const { tracker: commits } = tracker("a.jwt", "server.conf");
    commits.note(event("modify", "server.conf"), false);
    const verdicts = atomicWrite(".a.tmp", "a.jwt").map((e) => commits.note(e, false));
    assert.equal(verdicts.at(-1), false);
  });

  await t.step("once the in-place file is renamed away or removed, renames commit again", () => {
    const { tracker: commits } = tracker("a.jwt");
    commits.note(event("modify", "old.conf"), false);
    commits.note(event("remove", "old.conf"), false);
    const verdicts = atomicWrite(".a.tmp", "a.jwt").map((e) => commits.note(e, false));
    assert.equal(verdicts.at(-1), true);
  });

  await t.step(
    "a removal, or a rename away, is not a commit (rm + copy must not look removed)",
    () => {
      const { tracker: commits } = tracker("a.jwt.bak");
      assert.equal(commits.note(event("remove", "a.jwt"), false), false);
      assert.equal(commits.note(event("rename", "a.jwt", "a.jwt.bak"), false), false);
      assert.equal(commits.note(event("rename", "a.jwt"), false), false, "moved out of the dir");
    },
  );

  await t.step("a rename of a visible file not written since the last scan is not a commit", () => {
    const { tracker: commits } = tracker("a.jwt");
    assert.equal(commits.note(event("rename", "prepared-long-ago", "a.jwt"), false), false);
  });

  await t.step("a hidden temp file renamed into place commits even if its writes were lost", () => {
    // Deno keeps 16 events per watcher: under load the temp file's create and writes may be gone.
    const { tracker: commits } = tracker("/m/a.jwt");
    assert.equal(commits.note(event("rename", "/m/.a.jwt.1f.tmp", "/m/a.jwt"), false), true);
  });

  await t.step("a rename onto a name that is gone again is not a commit", () => {
    const { tracker: commits } = tracker();
    commits.note(event("create", ".a.tmp"), false);
    assert.equal(commits.note(event("rename", ".a.tmp", "a.jwt"), false), false);
  });

  await t.step("clear(): writes seen before the last scan no longer count", () => {
    const { tracker: commits } = tracker("a.jwt");
    commits.note(event("create", "a.tmp"), false);
    commits.note(event("modify", "server.conf"), false);
    commits.clear();
    assert.equal(commits.note(event("rename", "a.tmp", "a.jwt"), false), false, "not written");
    const verdicts = atomicWrite("b.tmp", "a.jwt").map((e) => commits.note(e, false));
    assert.equal(verdicts.at(-1), true, "server.conf no longer counts as being written");
  });

  await t.step("in a kubelet volume every event is a commit", () => {
    const { tracker: commits } = tracker();
    for (const e of [event("rename", "..data"), event("create", "a.jwt"), event("remove", "b")]) {
      assert.equal(commits.note(e, true), true, `${e.kind} ${e.paths}`);
    }
  });
});
