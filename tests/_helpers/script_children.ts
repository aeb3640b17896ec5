/**
 * Small real processes standing in for nats-server where a test needs a child to signal: shell
 * scripts that trap signals, write down which ones they received, and exit with a chosen status.
 * Each runs in a session of its own, so that cleanup kills it and its background sleep for sure.
 */

import { join } from "node:path";
import type { Spawner } from "../../src/server/server_process.ts";
import { pollUntil } from "../../dev/poll.ts";
import { trySignal } from "../../dev/process_output.ts";
import { pathExists } from "../../src/shared/path_exists.ts";

/** What a child does when it receives a signal: exit with a status, or write it down and go on. */
export type OnSignal = { exit: number } | "record";

/** The signals a child script traps. */
export const TRAPPED = ["INT", "TERM", "QUIT", "HUP", "USR1", "USR2"] as const;

/**
 * A shell script that traps the given signals (each is written to `$1/signals` first), writes
 * `$1/ready` once its traps are set, and waits. Untrapped signals keep their default action.
 */
export function trappingScript(traps: Partial<Record<typeof TRAPPED[number], OnSignal>>): string {
  const lines = ['d="$1"'];
  for (const [name, action] of Object.entries(traps)) {
    const then = action === "record" ? "" : `; kill "$p" 2>/dev/null; exit ${action.exit}`;
    lines.push(`trap 'echo ${name} >> "$d/signals"${then}' ${name}`);
  }
  // `wait` returns at once for a trapped signal, as POSIX asks; the loop waits again after a
  // recorded one. The sleep is the script's only child and dies with it (or with its group).
  lines.push(
    "sleep 1000 & p=$!",
    ': > "$d/ready"',
    'while kill -0 "$p" 2>/dev/null; do wait "$p"; done',
  );
  return lines.join("\n");
}

/**
 * The children of one test: each spawn runs a script in a new session (so that cleanup can kill
 * its whole process group, background sleep included) with a folder of its own for its files.
 */
export class ScriptChildren implements AsyncDisposable {
  readonly dir = Deno.makeTempDirSync({ prefix: "pot-nats-children-" });
  readonly spawned: Deno.ChildProcess[] = [];

  /** A spawner that runs `scripts[i]` for the i-th spawn (the last one for every later spawn). */
  spawner(...scripts: string[]): Spawner {
    return () => {
      const index = this.spawned.length;
      const script = scripts[Math.min(index, scripts.length - 1)]!;
      const childDir = join(this.dir, String(index));
      Deno.mkdirSync(childDir);
      // setsid execs in place: the pid is the script's, and the leader of its own group.
      const child = new Deno.Command("setsid", {
        args: ["sh", "-c", script, "sh", childDir],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      this.spawned.push(child);
      return child;
    };
  }

  /** The `index`-th child, once its traps are set. */
  async ready(index: number): Promise<Deno.ChildProcess> {
    await pollUntil(
      `child ${index} to be ready`,
      () => pathExists(join(this.dir, String(index), "ready")),
    );
    return this.spawned[index]!;
  }

  /** The signals the `index`-th child has received so far, in order. */
  signals(index: number): string[] {
    try {
      return Deno.readTextFileSync(join(this.dir, String(index), "signals")).split("\n")
        .filter(Boolean);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return []; // no signal recorded yet
      throw error;
    }
  }

  /** Waits until the `index`-th child has received `count` signals. */
  async waitForSignals(index: number, count: number): Promise<string[]> {
    return await pollUntil(
      `child ${index} to receive ${count} signal(s)`,
      () => this.signals(index).length >= count && this.signals(index),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const child of this.spawned) {
      trySignal(() => Deno.kill(-child.pid, "SIGKILL")); // the group may be gone already
      await child.status;
    }
    Deno.removeSync(this.dir, { recursive: true });
  }
}
