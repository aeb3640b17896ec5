/** Shared by the test process runners: reading a child's output line by line, and signalling it. */

/** Appends every line of `stream` to `lines` until the stream ends (always drained). */
async function collectLines(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
): Promise<void> {
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  }
  if (partial) lines.push(partial);
}

/** Collects a piped child's stdout and stderr into one list of lines; `done` settles at their end. */
export function collectOutput(child: Deno.ChildProcess): { lines: string[]; done: Promise<void> } {
  const lines: string[] = [];
  const done = Promise.all([
    collectLines(child.stdout, lines),
    collectLines(child.stderr, lines),
  ]).then(() => {});
  return { lines, done };
}

/** Sends a signal to a process that may already be gone. */
export function trySignal(send: () => void): void {
  try {
    send();
  } catch {
    // Already gone: nothing to stop.
  }
}
