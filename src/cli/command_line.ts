/**
 * The command line: `pot-nats [--help|--version|--check|healthcheck [--ready]|status [--json]]
 * [-- nats-server args]`. Everything else the supervisor needs comes from the environment (see
 * settings.ts).
 */

import { parseArgs } from "node:util";

export type Command = "run" | "help" | "version" | "check" | "healthcheck" | "status";

export interface CommandLine {
  command: Command;
  /** Arguments after `--`, passed to nats-server unchanged. */
  serverArgs: string[];
  /** `healthcheck --ready`: ask for readiness, not liveness. */
  ready: boolean;
  /** `status --json`: the raw document. */
  json: boolean;
}

/** What each exit status means: `--help` prints these, and a test keeps the README's table equal. */
export const EXIT_STATUSES: readonly { status: string; meaning: string }[] = [
  {
    status: "0",
    meaning: "ok: nats-server stopped cleanly on request; --check found everything valid; " +
      "healthcheck found the server healthy; --help, --version",
  },
  {
    status: "1",
    meaning: "runtime failure: nats-server could not start (its ports taken, NATS_CONF never " +
      "appeared) or exited on its own with an error; --check: the config is invalid; " +
      "healthcheck: not healthy",
  },
  {
    status: "2",
    meaning: "usage or settings: an unknown argument or a bad setting, before anything starts",
  },
  {
    status: "128+n",
    meaning: "nats-server died of signal n (137: killed, e.g. when a stop outlasts " +
      "POT_NATS_STOP_TIMEOUT_SECONDS)",
  },
];

/** Thrown for a command line that cannot be understood; exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses the supervisor's own arguments.
 * @throws {UsageError} for unknown flags, stray words or more than one command.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const split = argv.indexOf("--");
  const own = split === -1 ? [...argv] : argv.slice(0, split);
  const serverArgs = split === -1 ? [] : argv.slice(split + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        check: { type: "boolean" },
        ready: { type: "boolean" },
        json: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see pot-nats --help`);
  }
  const commands: Command[] = [];
  if (parsed.values.help) commands.push("help");
  if (parsed.values.version) commands.push("version");
  if (parsed.values.check) commands.push("check");
  for (const word of parsed.positionals) {
    if (word !== "healthcheck" && word !== "status") {
      throw new UsageError(
        `unknown command "${word}"; nats-server arguments go after "--" (see pot-nats --help)`,
      );
    }
    commands.push(word);
  }
  if (commands.length > 1) {
    throw new UsageError(`choose one of ${commands.join(", ")}; see pot-nats --help`);
  }
  const command = commands[0] ?? "run";
  const ready = parsed.values.ready ?? false;
  const json = parsed.values.json ?? false;
  if (ready && command !== "healthcheck") {
    throw new UsageError(`--ready goes with healthcheck; see pot-nats --help`);
  }
  if (json && command !== "status") {
    throw new UsageError(`--json goes with status; see pot-nats --help`);
  }
  return { command, serverArgs, ready, json };
}
