/**
 * Where Deno's file watcher thread is, as Linux tells it.
 *
 * Deno 2.9 runs one watcher thread for all `Deno.watchFs` calls of a process, and for every event
 * it opens the event's path (`same_file::is_same_file` in `runtime/ops/fs_events.rs`). An event on
 * a FIFO blocks that thread in `open()` until a writer appears, and while it is blocked every
 * watcher of the process is silent. Worse, measured on 2.9.6: `Deno.watchFs()` and
 * `FsWatcher.close()` on the main thread then wait for the watcher thread, forever, so a
 * supervisor that re-arms or closes a watcher at that moment freezes (no signal is handled again).
 * A FIFO removed while the thread waits to open it can never be opened for writing: the thread
 * stays blocked for the life of the process.
 *
 * So before calling either, the supervisor asks here whether the thread is waiting for events
 * (`do_epoll_wait` in `/proc/self/task/<tid>/wchan`), blocked opening a FIFO (`wait_for_partner`),
 * or anywhere else.
 *
 * @module
 */

/** Where the watcher thread is. */
export type WatcherThreadState =
  /** Waiting for events: `Deno.watchFs()` and `close()` return at once. */
  | "free"
  /** Blocked in `open()` of a FIFO. */
  | "opening a FIFO"
  /** Handling events, or sleeping somewhere else: try again later. */
  | "busy"
  /** No watcher thread yet, or no `/proc` to ask. */
  | "unknown";

/** The thread's name in `/proc/self/task/<tid>/comm` (truncated by Linux to 15 bytes). */
const THREAD_NAME = "notify-rs inoti";

/**
 * Reads where Deno's watcher thread sleeps. A process has one per isolate that watches (the test
 * runner runs test files as workers of one process): the least free of them counts.
 * @param taskDir the process's task directory (tests pass another process's)
 */
export function watcherThreadState(taskDir = "/proc/self/task"): WatcherThreadState {
  let state: WatcherThreadState = "unknown";
  for (const wchan of watcherThreadWchans(taskDir)) {
    if (wchan === "wait_for_partner") return "opening a FIFO";
    if (wchan !== "do_epoll_wait") state = "busy";
    else if (state === "unknown") state = "free";
  }
  return state;
}

/** True when calling `Deno.watchFs()` or `FsWatcher.close()` cannot wait on the thread. */
export function watcherThreadFree(state: WatcherThreadState): boolean {
  return state === "free" || state === "unknown";
}

/** How long the list of watcher threads is reused: listing every thread costs ~10 reads. */
const RELIST_MS = 10_000;

let cache: { taskDir: string; tasks: string[]; listedAt: number } | undefined;

/** Where each watcher thread sleeps (`wchan`); none without `/proc` or before any watch. */
function watcherThreadWchans(taskDir: string): string[] {
  const now = Date.now();
  if (cache?.taskDir !== taskDir || cache.tasks.length === 0 || now - cache.listedAt > RELIST_MS) {
    cache = { taskDir, tasks: listWatcherThreads(taskDir), listedAt: now };
  }
  const wchans: string[] = [];
  for (const task of cache.tasks) {
    try {
      wchans.push(Deno.readTextFileSync(`${task}/wchan`).trim());
    } catch {
      cache = undefined; // the thread ended: list again next time
    }
  }
  return wchans;
}

function listWatcherThreads(taskDir: string): string[] {
  const tasks: string[] = [];
  try {
    for (const entry of Deno.readDirSync(taskDir)) {
      const task = `${taskDir}/${entry.name}`;
      try {
        if (Deno.readTextFileSync(`${task}/comm`).trim() === THREAD_NAME) tasks.push(task);
      } catch {
        // The thread ended while listed: it waits on nothing any more.
      }
    }
  } catch {
    // No /proc (or not Linux): nothing to tell.
  }
  return tasks;
}
