/**
 * What Linux's `/proc` tells about a test's child process: its resident memory, its CPU time, and
 * where Deno's file watcher thread in it is waiting.
 */

/** Resident memory (`VmRSS`) of `pid` in MiB. @throws when the process is gone. */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/** User plus system CPU time of `pid` so far, in seconds. @throws when the process is gone. */
export function cpuSeconds(pid: number): number {
  // The fields after the command name (which may hold spaces) start at ") ": utime and stime are
  // the 14th and 15th fields of the whole line, in clock ticks (100 a second on Linux).
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The kernel function the file watcher thread of `pid` sleeps in (`/proc/<pid>/task/<tid>/wchan`):
 * `do_epoll_wait` while it waits for events, `wait_for_partner` while it is stuck opening a FIFO.
 * @returns undefined when the process has no such thread (no `Deno.watchFs` yet)
 */
export function watcherThreadWchan(pid: number): string | undefined {
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${task.name}`;
    try {
      if (Deno.readTextFileSync(`${dir}/comm`).startsWith("notify-rs")) {
        return Deno.readTextFileSync(`${dir}/wchan`);
      }
    } catch {
      // The thread ended while being listed: not the watcher thread, which lives as long as Deno.
    }
  }
  return undefined;
}

/**
 * A watchdog that samples the RSS of `pid` every 20 ms and kills the process (SIGKILL) as soon as
 * it exceeds `limitMiB`, so a test of unbounded memory growth fails without exhausting the machine.
 */
export function rssWatchdog(pid: number, limitMiB: number): {
  /** The highest RSS seen, in MiB. */
  readonly maxMiB: number;
  /** True once the process was killed for exceeding the limit. */
  readonly killed: boolean;
  stop(): void;
} {
  let maxMiB = 0;
  let killed = false;
  const timer = setInterval(() => {
    let rss: number;
    try {
      rss = rssMiB(pid);
    } catch {
      clearInterval(timer); // the process is gone
      return;
    }
    maxMiB = Math.max(maxMiB, rss);
    if (rss > limitMiB && !killed) {
      killed = true;
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone in between: nothing left to stop.
      }
    }
  }, 20);
  return {
    get maxMiB() {
      return maxMiB;
    },
    get killed() {
      return killed;
    },
    stop: () => clearInterval(timer),
  };
}
