/**
 * Waiting for a file that a volume mount may deliver late (the server config on a slow kubelet).
 */

import { pathExists } from "./path_exists.ts";
import { pause } from "./timing.ts";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Stops the wait early (a stop signal arrived); the result is then false. */
  signal?: AbortSignal;
}

/**
 * Polls until `path` exists (following symlinks).
 * @returns true once it exists, false when the timeout passed or the wait was aborted.
 */
export async function waitForFile(path: string, options: WaitOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  while (!options.signal?.aborted) {
    if (await pathExists(path)) return true;
    if (Date.now() >= deadline) return false;
    await pause(Math.min(interval, Math.max(0, deadline - Date.now())), options.signal);
  }
  return false;
}
