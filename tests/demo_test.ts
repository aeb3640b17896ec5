/**
 * End-to-end: `deno task demo` as a user runs it (on free ports, in a temporary folder), its
 * banner's life cycle walked with the very commands it prints (run through `sh -c` as printed),
 * a second demo refused before it starts anything, and the demo stopping with the `deno task`
 * that started it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../scripts/nats_server.ts";
import { probeListener } from "../src/server/port_check.ts";
import { pollUntil } from "../dev/poll.ts";
import { freePort } from "../dev/ports.ts";
import { collectOutput, trySignal } from "../dev/process_output.ts";
import { natsServerBin } from "./_helpers/setup.ts";

const PASSED_THROUGH = ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];

interface Run {
  process: Deno.ChildProcess;
  lines: string[];
  /** Settles once the process and every holder of its output (nats-server) have let go. */
  outputEnded: Promise<void>;
  status: Promise<Deno.CommandStatus>;
}

function start(command: string[], env: Record<string, string>): Run {
  const [cmd, ...args] = command;
  const process = new Deno.Command(cmd!, {
    args,
    cwd: REPO_ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { lines, done } = collectOutput(process);
  return { process, lines, outputEnded: done, status: process.status };
}

/** Waits for `promise`, or fails naming `what` after `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one printed command line through a shell, as a user pasting it would. */
async function shell(line: string, env: Record<string, string>) {
  const out = await new Deno.Command("sh", {
    args: ["-c", line],
    cwd: REPO_ROOT,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("the demo: its banner's life cycle, a second demo refused, a stop with its parent", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-demo-" });
  // `deno` on PATH in a folder of its own, so the banner prints `deno task ...` (not npx).
  const bin = await Deno.makeTempDir({ prefix: "pot-nats-demo-bin-" });
  await Deno.symlink(Deno.execPath(), join(bin, "deno"));
  const base: Record<string, string> = { NO_COLOR: "1", PATH: `${bin}:${Deno.env.get("PATH")}` };
  for (const name of PASSED_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  const clientPort = freePort();
  const monitorPort = freePort();
  const demoEnv = {
    ...base,
    POT_NATS_DEMO_DIR: dir,
    POT_NATS_DEMO_PORT: String(clientPort),
    POT_NATS_DEMO_MONITOR_PORT: String(monitorPort),
    POT_NATS_DEMO_HTTP_PORT: String(freePort()),
    POT_NATS_PURGE_GRACE_SECONDS: "1",
    NATS_SERVER_BIN: await natsServerBin(),
  };
  const demo = start(["deno", "task", "demo"], demoEnv);
  const transcript = () => demo.lines.slice(-60).join("\n");
  try {
    await pollUntil("the banner", () => demo.lines.some((l) => l.startsWith("Start over:")), {
      timeoutMs: 30_000,
    }).catch((error) => {
      throw new Error(`${error.message}\n${transcript()}`);
    });
    const steps = demo.lines.filter((line) => / task demo:/.test(line)).map((line) => line.trim());
    assert.equal(steps.length, 7, transcript());
    assert.ok(steps.every((line) => line.startsWith(`POT_NATS_DEMO_DIR=${dir} deno task `)));
    const [add, connect, limit, seeLimit, remove, refused, list] = steps as [
      string,
      ...string[],
    ];

    await t.step("add: the account's JWT is in the mount", async () => {
      const { code, text } = await shell(add, base);
      assert.equal(code, 0, text);
      assert.match(text, /added account orders \(A[A-Z0-9]{55}\) to the mount/);
    });

    await t.step("connect: its user publishes into stream DEMO", async () => {
      // The mirror and the server take a moment after the file appears: the command is retried.
      const text = await pollUntil("the orders user to connect", async () => {
        const { code, text } = await shell(connect!, base);
        return code === 0 && text;
      });
      assert.match(text, /received on demo\.hello: hello from orders/);
      assert.match(text, /stream DEMO keeps 1 message/);
      assert.match(text, /account orders: 1 stream\(s\) in use, no limit/);
    });

    await t.step("change a limit: the running server enforces it", async () => {
      const { code, text } = await shell(limit!, base);
      assert.equal(code, 0, text);
      assert.match(text, /account orders now allows at most 1 stream:/);
      await pollUntil("the new limit", async () => {
        const { code, text } = await shell(seeLimit!, base);
        return code === 0 && /account orders: 1 stream\(s\) in use, at most 1$/m.test(text);
      });
    });

    await t.step("remove: deleted live, its user is refused", async () => {
      const { code, text } = await shell(remove!, base);
      assert.equal(code, 0, text);
      const refusal = await pollUntil("the orders user to be refused", async () => {
        const { code, text } = await shell(refused!, base);
        return code === 1 && /was refused/.test(text) && text;
      });
      assert.match(refusal, /the user of account orders was refused .*Authorization Violation/);
      assert.ok(
        demo.lines.some((l) => /deleted accounts on the server accounts=1 failed=0/.test(l)),
      );
    });

    await t.step("after the grace period its stream's data is purged", async () => {
      await pollUntil("list to say the data is purged", async () => {
        const { text } = await shell(list!, base);
        return /^orders +A[A-Z0-9]{55} +removed, data purged$/m.test(text);
      });
      assert.ok(demo.lines.some((l) => /purged the JetStream data of account A/.test(l)));
    });

    await t.step("a second demo is refused before it starts anything", async () => {
      const second = start(["deno", "task", "demo"], demoEnv);
      const status = await second.status;
      await second.outputEnded;
      assert.equal(status.code, 1, second.lines.join("\n"));
      assert.match(second.lines.join("\n"), new RegExp(`a demo already runs on ${clientPort} `));
      assert.doesNotMatch(second.lines.join("\n"), /nats-server started/);
    });

    await t.step("the demo and its nats-server stop when deno task is killed", async () => {
      demo.process.kill("SIGKILL");
      await within(10_000, "the demo and its nats-server to exit", demo.outputEnded);
      assert.ok(demo.lines.some((l) => /deno task demo, which started the demo, is gone/.test(l)));
      assert.ok(demo.lines.some((l) => /INF nats-server stopped code=0/.test(l)), transcript());
      assert.equal(await probeListener("127.0.0.1", clientPort), undefined);
      assert.equal(await probeListener("127.0.0.1", monitorPort), undefined);
    });
  } finally {
    trySignal(() => demo.process.kill("SIGKILL"));
    await demo.status;
    // Should the demo have outlived its parent, nothing of it may outlive the test.
    const pid = demo.lines.findLast((l) => /nats-server started/.test(l))?.match(/pid=(\d+)/)?.[1];
    await within(10_000, "the demo's output to end", demo.outputEnded).catch(() => {
      if (pid) trySignal(() => Deno.kill(Number(pid), "SIGKILL"));
    });
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bin, { recursive: true });
  }
});
