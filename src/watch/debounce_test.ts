import assert from "node:assert/strict";
import { Debouncer } from "./debounce.ts";
import type { Timers } from "../shared/timing.ts";
import { FakeTimers } from "../../tests/_helpers/fake_timers.ts";

/** An action that records when each run started and can be held open until released. */
class RecordingAction {
  readonly starts: number[] = [];
  readonly errors: unknown[] = [];
  active = 0;
  maxActive = 0;
  #gate: PromiseWithResolvers<void> | undefined;

  constructor(readonly timers: Timers, readonly failOn: ReadonlySet<number> = new Set()) {}

  readonly run = async (): Promise<void> => {
    this.starts.push(this.timers.now());
    const runNumber = this.starts.length;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.#gate) await this.#gate.promise;
      if (this.failOn.has(runNumber)) throw new Error(`run ${runNumber} failed`);
    } finally {
      this.active--;
    }
  };

  readonly onError = (e: unknown): void => {
    this.errors.push(e);
  };

  /** Makes runs wait until `release()`. */
  hold(): void {
    this.#gate = Promise.withResolvers();
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }
}

function setup(
  options: { debounceMs?: number; maxWaitMs?: number; commitMs?: number; failOn?: number[] } = {},
) {
  const timers = new FakeTimers();
  const action = new RecordingAction(timers, new Set(options.failOn ?? []));
  const debouncer = new Debouncer(action.run, {
    debounceMs: options.debounceMs ?? 100,
    maxWaitMs: options.maxWaitMs ?? 1000,
    ...(options.commitMs !== undefined ? { commitMs: options.commitMs } : {}),
    timers,
    onError: action.onError,
  });
  return { timers, action, debouncer };
}

Deno.test("a single trigger runs the action once, debounceMs later", async () => {
  const { timers, action, debouncer } = setup();
  debouncer.trigger();
  assert.equal(debouncer.pending, true);
  await timers.advance(99);
  assert.deepEqual(action.starts, []);
  await timers.advance(1);
  assert.deepEqual(action.starts, [100]);
  assert.equal(debouncer.pending, false);
  assert.equal(debouncer.running, false);
  await timers.advance(10_000);
  assert.deepEqual(action.starts, [100]);
  assert.equal(timers.scheduled, 0);
});

Deno.test("a burst of triggers within the debounce window gives one run", async (t) => {
  await t.step("1000 triggers at the same instant", async () => {
    const { timers, action, debouncer } = setup();
    for (let i = 0; i < 1000; i++) debouncer.trigger();
    assert.equal(timers.scheduled, 1, "each trigger replaces the timer");
    await timers.advance(5000);
    assert.deepEqual(action.starts, [100]);
  });

  await t.step("1000 triggers spread over 99 ms run 100 ms after the last one", async () => {
    const { timers, action, debouncer } = setup();
    for (let i = 0; i < 1000; i++) {
      debouncer.trigger();
      if (i % 10 === 9) await timers.advance(1);
    }
    assert.equal(timers.now(), 100);
    await timers.advance(5000);
    assert.deepEqual(action.starts, [99 + 100]);
  });
});

Deno.test("a continuous stream of triggers runs at maxWaitMs after the first of each burst", async () => {
  const { timers, action, debouncer } = setup({ debounceMs: 100, maxWaitMs: 1000 });
  for (let at = 0; at <= 2100; at += 50) {
    await timers.advance(at - timers.now());
    debouncer.trigger();
  }
  await timers.advance(5000);
  // The run at 1000 fires before the trigger at 1000, which starts the next burst.
  assert.deepEqual(action.starts, [1000, 2000, 2200]);
});

Deno.test("triggers during a running action cause exactly one more run", async (t) => {
  await t.step(
    "the next run starts as soon as the first finishes if its debounce is over",
    async () => {
      const { timers, action, debouncer } = setup();
      action.hold();
      debouncer.trigger();
      await timers.advance(100);
      assert.deepEqual(action.starts, [100]);
      assert.equal(debouncer.running, true);
      for (let i = 0; i < 5; i++) {
        debouncer.trigger();
        await timers.advance(10);
      }
      await timers.advance(500);
      assert.deepEqual(action.starts, [100], "no overlapping run");
      assert.equal(debouncer.pending, true);
      action.release();
      await timers.advance(0);
      assert.deepEqual(action.starts, [100, 650]);
      await timers.advance(10_000);
      assert.deepEqual(action.starts, [100, 650]);
      assert.equal(action.maxActive, 1);
    },
  );

  await t.step("the next run still waits out the debounce from the last trigger", async () => {
    const { timers, action, debouncer } = setup();
    action.hold();
    debouncer.trigger();
    await timers.advance(110);
    debouncer.trigger();
    action.release();
    await timers.advance(99);
    assert.deepEqual(action.starts, [100]);
    await timers.advance(1);
    assert.deepEqual(action.starts, [100, 210]);
  });

  await t.step("a trigger after the timer fired during the run restarts the debounce", async () => {
    const { timers, action, debouncer } = setup();
    action.hold();
    debouncer.trigger();
    await timers.advance(100);
    debouncer.trigger();
    await timers.advance(150); // the timer fires at 200, while the run is still going
    debouncer.trigger();
    action.release();
    await timers.advance(99);
    assert.deepEqual(action.starts, [100]);
    await timers.advance(1);
    assert.deepEqual(action.starts, [100, 350]);
  });

  await t.step("a long run under a steady stream still respects maxWaitMs", async () => {
    const { timers, action, debouncer } = setup({ debounceMs: 100, maxWaitMs: 300 });
    action.hold();
    debouncer.trigger();
    await timers.advance(100);
    for (let i = 0; i < 20; i++) {
      debouncer.trigger();
      await timers.advance(50);
    }
    assert.deepEqual(action.starts, [100]);
    action.release();
    await timers.advance(0);
    assert.deepEqual(action.starts, [100, 1100], "due since 400, started when the run ended");
  });
});

Deno.test("runs never overlap and the last trigger is always followed by a run", async () => {
  const timers = new FakeTimers();
  const starts: number[] = [];
  let active = 0;
  let maxActive = 0;
  const debouncer = new Debouncer(async () => {
    starts.push(timers.now());
    maxActive = Math.max(maxActive, ++active);
    // Each run takes 30 ms of fake time.
    await new Promise<void>((resolve) => timers.setTimeout(resolve, 30));
    active--;
  }, {
    debounceMs: 10,
    maxWaitMs: 50,
    timers,
    onError: (e) => assert.fail(`unexpected error: ${e}`),
  });
  let lastTrigger = 0;
  for (let at = 0; at < 2000; at += 7) {
    await timers.advance(at - timers.now());
    debouncer.trigger();
    lastTrigger = at;
  }
  await timers.advance(1000);
  assert.equal(maxActive, 1);
  assert.ok(starts.length > 10, `only ${starts.length} runs`);
  assert.ok((starts.at(-1) ?? -1) >= lastTrigger, "a run started after the last trigger");
  assert.equal(debouncer.pending, false);
  assert.equal(debouncer.running, false);
});

Deno.test("an error from the action goes to onError and later triggers still run", async (t) => {
  await t.step("a rejected promise", async () => {
    const { timers, action, debouncer } = setup({ failOn: [1] });
    debouncer.trigger();
    await timers.advance(100);
    assert.equal(action.errors.length, 1);
    assert.match(String(action.errors[0]), /run 1 failed/);
    assert.equal(debouncer.running, false);
    debouncer.trigger();
    await timers.advance(100);
    assert.deepEqual(action.starts, [100, 200]);
    assert.equal(action.errors.length, 1);
  });

  await t.step("a synchronous throw", async () => {
    const timers = new FakeTimers();
    const errors: unknown[] = [];
    let calls = 0;
    const debouncer = new Debouncer(() => {
      calls++;
      if (calls === 1) throw new TypeError("sync failure");
      return Promise.resolve();
    }, { debounceMs: 10, maxWaitMs: 10, timers, onError: (e) => errors.push(e) });
    debouncer.trigger();
    await timers.advance(10);
    debouncer.trigger();
    await timers.advance(10);
    assert.equal(calls, 2);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TypeError);
  });

  await t.step("an error in a run started by flush also goes to onError", async () => {
    const { action, debouncer } = setup({ failOn: [1] });
    debouncer.trigger();
    await debouncer.flush();
    assert.equal(action.errors.length, 1);
  });
});

Deno.test("close cancels pending work and waits for a running action", async (t) => {
  await t.step("a pending trigger never runs and later triggers are ignored", async () => {
    const { timers, action, debouncer } = setup();
    debouncer.trigger();
    await debouncer.close();
    assert.equal(timers.scheduled, 0);
    assert.equal(debouncer.pending, false);
    debouncer.trigger();
    assert.equal(timers.scheduled, 0);
    await timers.advance(10_000);
    assert.deepEqual(action.starts, []);
  });

  await t.step(
    "close resolves only after the running action finishes, with no follow-up",
    async () => {
      const { timers, action, debouncer } = setup();
      action.hold();
      debouncer.trigger();
      await timers.advance(100);
      debouncer.trigger();
      await timers.advance(100);
      let closed = false;
      const closing = debouncer.close().then(() => closed = true);
      await timers.advance(1000);
      assert.equal(closed, false);
      assert.equal(debouncer.running, true);
      action.release();
      await closing;
      assert.equal(debouncer.running, false);
      await timers.advance(10_000);
      assert.deepEqual(action.starts, [100]);
    },
  );

  await t.step("close is idempotent and flush after close runs nothing", async () => {
    const { action, debouncer } = setup();
    debouncer.trigger();
    await debouncer.close();
    await debouncer.close();
    await debouncer.flush();
    assert.deepEqual(action.starts, []);
  });

  await t.step("await using closes the debouncer at the end of the block", async () => {
    const timers = new FakeTimers();
    let runs = 0;
    {
      await using debouncer = new Debouncer(() => {
        runs++;
        return Promise.resolve();
      }, { debounceMs: 10, maxWaitMs: 10, timers, onError: (e) => assert.fail(String(e)) });
      debouncer.trigger();
    }
    assert.equal(timers.scheduled, 0);
    await timers.advance(100);
    assert.equal(runs, 0);
  });
});

Deno.test("flush runs pending work now", async (t) => {
  await t.step("a pending trigger runs at once and its timer is cancelled", async () => {
    const { timers, action, debouncer } = setup();
    debouncer.trigger();
    await timers.advance(30);
    await debouncer.flush();
    assert.deepEqual(action.starts, [30]);
    assert.equal(timers.scheduled, 0);
    await timers.advance(10_000);
    assert.deepEqual(action.starts, [30]);
  });

  await t.step("with nothing pending it runs nothing", async () => {
    const { action, debouncer } = setup();
    await debouncer.flush();
    assert.deepEqual(action.starts, []);
  });

  await t.step(
    "during a run it waits, then runs once more for triggers made meanwhile",
    async () => {
      const { timers, action, debouncer } = setup();
      action.hold();
      debouncer.trigger();
      await timers.advance(100);
      debouncer.trigger();
      await timers.advance(20);
      let flushed = false;
      const flushing = debouncer.flush().then(() => flushed = true);
      await timers.advance(0);
      assert.equal(flushed, false);
      action.release();
      await flushing;
      assert.deepEqual(action.starts, [100, 120]);
      assert.equal(debouncer.pending, false);
      assert.equal(timers.scheduled, 0);
    },
  );

  await t.step(
    "during a run it also waits for the follow-up run that starts by itself",
    async () => {
      const { timers, action, debouncer } = setup();
      action.hold();
      debouncer.trigger();
      await timers.advance(100);
      debouncer.trigger();
      await timers.advance(100); // due at 200: the follow-up starts when the first run ends
      let flushed = false;
      const flushing = debouncer.flush().then(() => flushed = true);
      action.release();
      action.hold();
      await timers.advance(0);
      assert.deepEqual(action.starts, [100, 200]);
      assert.equal(flushed, false);
      action.release();
      await flushing;
      assert.deepEqual(action.starts, [100, 200]);
      assert.equal(debouncer.running, false);
    },
  );

  await t.step("during a run with nothing pending it only waits for the run", async () => {
    const { timers, action, debouncer } = setup();
    action.hold();
    debouncer.trigger();
    await timers.advance(100);
    const flushing = debouncer.flush();
    action.release();
    await flushing;
    assert.equal(debouncer.running, false);
    assert.deepEqual(action.starts, [100]);
  });

  await t.step("concurrent flushes run the pending work once", async () => {
    const { action, debouncer } = setup();
    debouncer.trigger();
    await Promise.all([debouncer.flush(), debouncer.flush(), debouncer.flush()]);
    assert.deepEqual(action.starts, [0]);
  });
});

Deno.test("the constructor rejects bad durations with a RangeError", async (t) => {
  const cases: [string, number, number, RegExp][] = [
    ["negative debounceMs", -1, 100, /debounceMs must be a non-negative number, got -1/],
    ["NaN debounceMs", NaN, 100, /debounceMs/],
    ["maxWaitMs below debounceMs", 100, 50, /maxWaitMs .* got 50/],
    ["infinite maxWaitMs", 100, Infinity, /maxWaitMs/],
  ];
  for (const [name, debounceMs, maxWaitMs, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => new Debouncer(() => Promise.resolve(), { debounceMs, maxWaitMs, onError: () => {} }),
        { name: "RangeError", message },
      );
    });
  }
});

Deno.test("with real timers a burst of triggers gives one run", async () => {
  const ran = Promise.withResolvers<void>();
  let runs = 0;
  await using debouncer = new Debouncer(() => {
    runs++;
    ran.resolve();
    return Promise.resolve();
  }, { debounceMs: 5, maxWaitMs: 1000, onError: (e) => ran.reject(e) });
  for (let i = 0; i < 100; i++) debouncer.trigger();
  await ran.promise;
  assert.equal(runs, 1);
  assert.equal(debouncer.pending, false);
});

Deno.test("trigger kinds: a commit runs commitMs after it, a write debounceMs", async (t) => {
  await t.step("one commit runs after commitMs, not debounceMs", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("commit");
    await timers.advance(4);
    assert.deepEqual(action.starts, []);
    await timers.advance(1);
    assert.deepEqual(action.starts, [5]);
  });

  await t.step("the rest of the same burst is waited for", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("commit");
    await timers.advance(3);
    debouncer.trigger("commit");
    await timers.advance(4);
    assert.deepEqual(action.starts, []);
    await timers.advance(1);
    assert.deepEqual(action.starts, [8]);
  });

  await t.step("a write after a commit waits debounceMs: a file may be half-written", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("commit");
    await timers.advance(2);
    debouncer.trigger("write");
    await timers.advance(99);
    assert.deepEqual(action.starts, []);
    await timers.advance(1);
    assert.deepEqual(action.starts, [102]);
  });

  await t.step(
    "a commit after writes (a temp file written, then renamed) runs commitMs after it",
    async () => {
      const { timers, action, debouncer } = setup({ commitMs: 5 });
      debouncer.trigger("write");
      await timers.advance(2);
      debouncer.trigger("commit");
      await timers.advance(5);
      assert.deepEqual(action.starts, [7]);
    },
  );

  await t.step("maxWaitMs still bounds a burst of commits", async () => {
    const { timers, action, debouncer } = setup({ debounceMs: 10, commitMs: 5, maxWaitMs: 20 });
    for (let i = 0; i < 6; i++) {
      debouncer.trigger("commit");
      await timers.advance(4);
    }
    assert.deepEqual(action.starts, [20], "not 21, 5 ms after the trigger at 16");
  });

  await t.step("without commitMs a commit waits debounceMs, as before", async () => {
    const { timers, action, debouncer } = setup();
    debouncer.trigger("commit");
    await timers.advance(99);
    assert.deepEqual(action.starts, []);
    await timers.advance(1);
    assert.deepEqual(action.starts, [100]);
  });

  await t.step("commitMs outside 0..debounceMs is refused", () => {
    for (const commitMs of [-1, 101, NaN]) {
      assert.throws(() => setup({ commitMs }), /commitMs must be a number from 0 to debounceMs/);
    }
  });
});

Deno.test("trigger kinds: a check runs within debounceMs, never later than a run due", async (t) => {
  await t.step("alone, a check waits debounceMs", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("check");
    await timers.advance(100);
    assert.deepEqual(action.starts, [100]);
  });

  await t.step("a check after a commit does not postpone it (the directory check)", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("commit");
    await timers.advance(2);
    debouncer.trigger("check");
    await timers.advance(3);
    assert.deepEqual(action.starts, [5]);
  });

  await t.step("a check during a write's debounce does not postpone it either", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("write");
    await timers.advance(60);
    debouncer.trigger("check");
    await timers.advance(40);
    assert.deepEqual(action.starts, [100]);
  });

  await t.step("a write after a check postpones the run as any write does", async () => {
    const { timers, action, debouncer } = setup({ commitMs: 5 });
    debouncer.trigger("check");
    await timers.advance(60);
    debouncer.trigger("write");
    await timers.advance(99);
    assert.deepEqual(action.starts, []);
    await timers.advance(1);
    assert.deepEqual(action.starts, [160]);
  });
});
