/**
 * One-shot runs of the nats-server binary: its version, and testing a config (`nats-server -t`)
 * before the supervisor starts or reloads with it.
 */

import { dirname } from "node:path";

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
  const out = await runBinary(bin, ["-t", "-c", confPath], dirname(confPath));
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
  cwd?: string,
): Promise<{ success: boolean; text: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(bin, { args, stdin: "null", ...(cwd ? { cwd } : {}) }).output();
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
