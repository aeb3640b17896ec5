/**
 * Runs `main.ts` as a child process exactly as an operator runs the binary: its own working
 * directory (not the repo), settings only from the environment, output collected line by line.
 * Disposing it stops the supervisor and makes sure no nats-server it started is left running.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pollUntil } from "./poll.ts";
import { collectOutput, trySignal } from "./process_output.ts";

/** The repository, whose main.ts and deno.json the supervisor runs from. */
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Variables a Deno child needs to find its cache; everything else comes from the test. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NO_COLOR"];

export interface SupervisorRun extends AsyncDisposable {
  readonly process: Deno.ChildProcess;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Resolves after the process exited and its output was read to the end. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Every line printed so far (the supervisor's and nats-server's, stdout and stderr). */
  readonly lines: readonly string[];
  /** Waits for a line matching `pattern`, counting only lines from index `from` on. */
  waitForLine(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  count(pattern: RegExp): number;
  /** The pid of the nats-server the supervisor started most recently, if any. */
  serverPid(): number | undefined;
  signal(signal: Deno.Signal): void;
  /** Signals the supervisor's whole process group (only with `processGroup: true`). */
  signalGroup(signal: Deno.Signal): void;
  /** All output, for assertion messages. */
  transcript(): string;
}

export interface SupervisorRunOptions {
  env: Record<string, string>;
  args?: string[];
  cwd?: string;
  /**
   * Start the supervisor as the leader of a process group of its own (through `setsid`), so that
   * a signal can be sent to the whole group, as a terminal's Ctrl-C does.
   */
  processGroup?: boolean;
}

/** The command line that runs main.ts as the binary would run (argv[0] is Deno). */
export function supervisorArgv(args: readonly string[] = []): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--config",
    join(REPO_ROOT, "deno.json"),
    join(REPO_ROOT, "main.ts"),
    ...args,
  ];
}

/**
 * The whole environment of a supervisor run (to spawn with `clearEnv`): what a Deno child needs
 * from ours, the HTTP endpoint off (and never on 0.0.0.0) unless `env` turns it on, then `env`.
 */
export function supervisorEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { NO_COLOR: "1" };
  for (const name of PASSED_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  return { POT_NATS_HTTP_PORT: "0", POT_NATS_HTTP_HOST: "127.0.0.1", ...base, ...env };
}

export function runSupervisor(options: SupervisorRunOptions): SupervisorRun {
  const deno = supervisorArgv(options.args);
  // setsid execs in place (the child is not a group leader yet): the pid stays the supervisor's.
  const [command, ...args] = options.processGroup ? ["setsid", ...deno] : deno;
  const process = new Deno.Command(command!, {
    args,
    cwd: options.cwd ?? Deno.env.get("TMPDIR") ?? "/tmp",
    env: supervisorEnv(options.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { lines, done: readers } = collectOutput(process);
  // Settles once the process has exited AND all its output has been read, so a test that awaits
  // the status can assert on every line.
  const status = Promise.all([process.status, readers]).then(([status]) => status);
  let exited = false;
  process.status.then(() => exited = true);

  const run: SupervisorRun = {
    process,
    get exited() {
      return exited;
    },
    status,
    lines,
    async waitForLine(pattern, { from = 0, timeoutMs = 15_000 } = {}) {
      try {
        return await pollUntil(
          `a line matching ${pattern}`,
          () => lines.slice(from).find((line) => pattern.test(line)),
          { timeoutMs },
        );
      } catch (error) {
        // The output as it is now, at the deadline, not as it was when the wait began.
        throw new Error(`${(error as Error).message}\n--- output ---\n${tail(lines)}`);
      }
    },
    count: (pattern) => lines.filter((line) => pattern.test(line)).length,
    serverPid() {
      const started = lines.findLast((line) => /nats-server started/.test(line));
      const pid = started?.match(/\bpid=(\d+)/)?.[1];
      return pid ? Number(pid) : undefined;
    },
    signal: (signal) => process.kill(signal),
    signalGroup: (signal) => Deno.kill(-process.pid, signal),
    transcript: () => lines.join("\n"),
    async [Symbol.asyncDispose]() {
      if (!exited) {
        trySignal(() => process.kill("SIGTERM"));
        const timer = setTimeout(() => trySignal(() => process.kill("SIGKILL")), 10_000);
        await process.status;
        clearTimeout(timer);
      }
      const serverPid = run.serverPid();
      if (serverPid !== undefined) trySignal(() => Deno.kill(serverPid, "SIGKILL"));
      await readers;
    },
  };
  return run;
}

function tail(lines: readonly string[]): string {
  return lines.slice(-40).join("\n");
}
