/**
 * One-shot runs of the nats-server binary: its version, and testing a config (`nats-server -t`)
 * before the supervisor starts or reloads with it.
 */

import { dirname } from "node:path";

/**
 * Longest `nats-server -t` may take. It reads every file the config names; one that is a FIFO
 * (a TLS certificate, say) blocks it until a writer appears, and the pass waiting on it with it.
 */
const CHECK_TIMEOUT_MS = 10_000;

export interface ConfigCheck {
  ok: boolean;
  /** nats-server's own words, trimmed; empty when it printed nothing. */
  output: string;
}

/**
 * Tests a config the way nats-server will load it (same working directory as the real server).
 * @returns ok false with nats-server's message when the config is rejected.
 * @throws when the binary cannot be run at all.
 */
export async function checkServerConfig(bin: string, confPath: string): Promise<ConfigCheck> {
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  const out = await runBinary(bin, ["-t", "-c", confPath], { cwd: dirname(confPath), timeout });
  if (timeout.aborted && !out.success) {
    return {
      ok: false,
      output: `nats-server -t did not finish within ${CHECK_TIMEOUT_MS / 1000} s; does the ` +
        `config name a FIFO or a device? ${out.text}`.trim(),
    };
  }
  return { ok: out.success, output: out.text };
}

/** The version nats-server reports, like "2.10.27"; throws when the binary cannot be run. */
export async function serverVersion(bin: string): Promise<string> {
  const out = await runBinary(bin, ["--version"]);
  const match = out.text.match(/v?(\d+\.\d+\.\d+\S*)/);
  if (!out.success || !match?.[1]) {
    throw new Error(`"${bin} --version" did not print a version: ${out.text || "(no output)"}`);
  }
  return match[1];
}

async function runBinary(
  bin: string,
  args: string[],
  options: { cwd?: string; timeout?: AbortSignal } = {},
): Promise<{ success: boolean; text: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(bin, {
      args,
      stdin: "null",
      ...(options.cwd ? { cwd: options.cwd } : {}),
      // On abort the child is killed (SIGTERM) and its output so far returned.
      ...(options.timeout ? { signal: options.timeout } : {}),
    }).output();
  } catch (error) {
    throw new Error(
      `cannot run nats-server "${bin}": ${(error as Error).message}; ` +
        `set NATS_SERVER_BIN to the path of a nats-server 2.10+ binary`,
    );
  }
  const decoder = new TextDecoder();
  const text = (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim();
  return { success: output.success, text };
}
