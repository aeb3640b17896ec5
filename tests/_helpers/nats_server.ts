/**
 * A nats-server started directly on a dev setup, without the supervisor: for tests of the modules
 * that talk to a running server (claims, purge, store dir, reconcile, the admin connection).
 *
 * It runs `serverBin -c confPath -m monitorPort [extraArgs]` in the config's directory, collects
 * stdout and stderr line by line (always drained, so the server can never stall on a full pipe) and
 * waits for "Server is ready". Disposing it stops the server (SIGINT, then SIGKILL after a deadline).
 */

import { dirname, join } from "node:path";
import type { DevSetup } from "../../dev/dev_setup.ts";
import { pollUntil } from "../../dev/poll.ts";
import { collectOutput, trySignal } from "../../dev/process_output.ts";

export interface NatsServerRun extends AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly pid: number;
  /** `nats://127.0.0.1:<client port>` */
  readonly url: string;
  /** Every line the server printed so far (stdout and stderr). */
  readonly lines: readonly string[];
  /** Waits for a line matching `pattern`, counting only lines from index `from` on. */
  waitForLine(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Stops the server (SIGINT; SIGKILL after 10 s) and waits until its output is read. */
  stop(): Promise<Deno.CommandStatus>;
}

export interface StartNatsServerOptions {
  /** Arguments appended after `-c <conf> -m <port>`. */
  extraArgs?: string[];
  /**
   * Copy the demo account's JWT from the mount into the resolver dir before start, as the
   * supervisor's mirror would (default true): without it the demo user cannot connect.
   */
  mirrorDemoJwt?: boolean;
  /** How long to wait for "Server is ready" (default 15 s). */
  readyTimeoutMs?: number;
}

const READY = /Server is ready/;

/**
 * Starts nats-server on `setup` and waits until it is ready.
 * @throws when it does not become ready in time (the server is stopped first; the message carries
 * its output)
 */
export async function startNatsServer(
  setup: DevSetup,
  options: StartNatsServerOptions = {},
): Promise<NatsServerRun> {
  if (options.mirrorDemoJwt ?? true) {
    const name = `${setup.demo.pub}.jwt`;
    const jwt = (await Deno.readTextFile(join(setup.mountDir, name))).trim();
    await Deno.mkdir(setup.jwtDir, { recursive: true });
    await Deno.writeTextFile(join(setup.jwtDir, name), jwt, { mode: 0o600 });
  }
  const args = ["-c", setup.confPath, "-m", String(setup.options.monitorPort)];
  const process = new Deno.Command(setup.options.serverBin, {
    args: [...args, ...(options.extraArgs ?? [])],
    cwd: dirname(setup.confPath),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { lines, done: readers } = collectOutput(process);
  let exited = false;
  const status = process.status.then(async (status) => {
    exited = true;
    await readers;
    return status;
  });
  let stopping: Promise<Deno.CommandStatus> | undefined;

  const run: NatsServerRun = {
    process,
    pid: process.pid,
    url: setup.clientUrl,
    lines,
    waitForLine(pattern, { from = 0, timeoutMs = 15_000 } = {}) {
      return pollUntil(
        `a nats-server line matching ${pattern}\n--- output ---\n${lines.slice(-40).join("\n")}`,
        () => {
          const line = lines.slice(from).find((line) => pattern.test(line));
          if (line === undefined && exited) throw new Error("nats-server exited");
          return line;
        },
        { timeoutMs },
      );
    },
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          trySignal(() => process.kill("SIGINT"));
          const timer = setTimeout(() => trySignal(() => process.kill("SIGKILL")), 10_000);
          try {
            return await status;
          } finally {
            clearTimeout(timer);
          }
        }
        return await status;
      })();
      return stopping;
    },
    async [Symbol.asyncDispose]() {
      await run.stop();
    },
  };

  try {
    await pollUntil("nats-server to be ready", () => {
      if (lines.some((line) => READY.test(line))) return true;
      if (exited) throw new Error("nats-server exited before it was ready");
      return false;
    }, { timeoutMs: options.readyTimeoutMs ?? 15_000 });
  } catch (error) {
    await run.stop();
    throw new Error(
      `${(error as Error).message}\n--- nats-server output ---\n${lines.join("\n")}`,
      { cause: error },
    );
  }
  return run;
}
