/**
 * Stopping the demo with whatever started it. A SIGTERM to `npx` ends npm and its shell but not
 * `deno task` below them, which keeps running with the demo and its nats-server, orphaned, holding
 * the ports. So the demo notes the processes that started it (its parent, and up through the
 * session leader, never PID 1) and stops when one of them is gone.
 *
 * Linux only (it reads `/proc`); elsewhere nothing is watched.
 *
 * @module
 */

/** The fields of `/proc/<pid>/stat` this needs. */
export interface ProcStat {
  pid: number;
  ppid: number;
  session: number;
  /** `R`, `S`, ...; `Z` (zombie) and `X` (dead) mean it has ended. */
  state: string;
  /** Clock ticks after boot: with the pid, tells a process from a later one given the same pid. */
  startTime: string;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (2nd field) may hold spaces and parentheses, so the
 * fields are counted from the last `)`.
 * @throws {TypeError} when the text is not shaped like one
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  const pid = Number(text.slice(0, text.indexOf(" (")));
  // From the 3rd field on: state, ppid, pgrp, session, ..., starttime (the 22nd).
  const fields = text.slice(close + 2).trim().split(" ");
  const [state, ppid, , session] = fields;
  const startTime = fields[19];
  if (close < 0 || !Number.isInteger(pid) || !state || !startTime) {
    throw new TypeError(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { pid, ppid: Number(ppid), session: Number(session), state, startTime };
}

/** Reads a process's stat; undefined when there is no such process. */
export type ReadStat = (pid: number) => ProcStat | undefined;

/**
 * The processes that started `pid`: its parent, then each parent's parent up to and including the
 * first session leader (the terminal's shell, or whatever started the session). PID 1 and an
 * unknown parent end the chain.
 */
export function launcherChain(pid: number, read: ReadStat): ProcStat[] {
  const chain: ProcStat[] = [];
  let current = read(pid);
  while (current && current.ppid > 1) {
    const parent = read(current.ppid);
    if (!parent) break;
    chain.push(parent);
    if (parent.pid === parent.session) break;
    current = parent;
  }
  return chain;
}

/** @returns the first process of `chain` that has ended (or whose pid now names another), if any */
export function firstGone(chain: readonly ProcStat[], read: ReadStat): ProcStat | undefined {
  return chain.find((process) => {
    const now = read(process.pid);
    return !now || now.startTime !== process.startTime || now.state === "Z" ||
      now.state === "X";
  });
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The command line of `pid`, shortened for a message. */
function commandLine(pid: number): string {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
    return text.length > 80 ? `${text.slice(0, 79)}…` : text;
  } catch {
    return "?"; // gone already: the pid alone names it
  }
}

/**
 * Checks every `intervalMs` whether a process that started this one is gone, and calls `onGone`
 * once with its description (`pid 123, npm exec deno@2.9.6 task demo`). The timer never keeps the
 * process alive; disposing the watch stops it.
 */
export function watchLaunchers(
  options: { onGone: (description: string) => void; intervalMs?: number },
): Disposable {
  const chain = Deno.build.os === "linux" ? launcherChain(Deno.pid, readProcStat) : [];
  if (chain.length === 0) return { [Symbol.dispose]: () => {} };
  const names = new Map(chain.map((process) => [process.pid, commandLine(process.pid)]));
  const timer = setInterval(() => {
    const gone = firstGone(chain, readProcStat);
    if (!gone) return;
    clearInterval(timer);
    options.onGone(`pid ${gone.pid}, ${names.get(gone.pid)}`);
  }, options.intervalMs ?? 500);
  Deno.unrefTimer(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
