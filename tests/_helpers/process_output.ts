/** Shared by the test process runners: reading a child's output line by line, and signalling it. */

/** Appends every line of `stream` to `lines` until the stream ends (always drained). */
export async function collectLines(
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

/** Sends a signal to a process that may already be gone. */
export function trySignal(send: () => void): void {
  try {
    send();
  } catch {
    // Already gone: nothing to stop.
  }
}
