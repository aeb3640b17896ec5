/**
 * pot-nats: runs nats-server as its child and keeps it in step with mounted config, TLS material,
 * creds and account JWTs. Settings come from the environment; see `pot-nats --help`.
 */

import denoConfig from "./deno.json" with { type: "json" };
import { parseCommandLine, UsageError } from "./src/cli/command_line.ts";
import { checkHealth } from "./src/cli/healthcheck.ts";
import { createLogger, type LogFormat } from "./src/shared/log.ts";
import { checkServerConfig, serverVersion } from "./src/server/server_binary.ts";
import {
  helpText,
  parseSettings,
  SETTING_DOCS,
  type Settings,
  SettingsError,
} from "./src/cli/settings.ts";
import { listenForSignals } from "./src/server/signals.ts";
import { ChangePipeline } from "./src/watch/pipeline.ts";
import { assertDistinctDirs } from "./src/mirror/writes.ts";
import { combine } from "./src/server/companion.ts";
import { Supervisor } from "./src/server/supervisor.ts";
import { LazyAdminJobs } from "./src/admin/lazy_jobs.ts";
import { FileGuard } from "./src/shared/bounded_read.ts";
import { installTransportErrorGuard } from "./src/admin/transport_guard.ts";
import { Report } from "./src/report/report.ts";
import { HttpEndpoint } from "./src/http/server.ts";
import { fetchStatus } from "./src/cli/status_command.ts";

export const VERSION = denoConfig.version;

export async function main(argv: string[]): Promise<number> {
  // Errors found before the settings are read follow the log format asked for, when it is valid.
  const fail = failWith(Deno.env.get("POT_NATS_LOG_FORMAT") === "json" ? "json" : "text");
  let commandLine;
  try {
    commandLine = parseCommandLine(argv);
  } catch (error) {
    return fail(error, UsageError);
  }
  if (commandLine.command === "help") return print(helpText(VERSION));
  if (commandLine.command === "version") return await printVersions(fail);

  let settings: Settings;
  try {
    settings = parseSettings(Deno.env.toObject(), Deno.cwd());
  } catch (error) {
    return fail(error, SettingsError);
  }
  if (commandLine.command === "check") return await checkConfig(settings, fail);
  if (commandLine.command === "healthcheck") {
    const health = await checkHealth(settings, { ready: commandLine.ready });
    const word = commandLine.ready ? "ready" : "healthy";
    return health.ok ? print(`${word}: ${health.reason}`) : fail(new Error(health.reason));
  }
  if (commandLine.command === "status") {
    try {
      return print(await fetchStatus(settings, { json: commandLine.json }));
    } catch (error) {
      return fail(error);
    }
  }

  try {
    await assertDistinctDirs(settings.jwtMountDir, settings.jwtDir);
  } catch (error) {
    return fail(new SettingsError((error as Error).message), SettingsError);
  }
  if (settings.operatorSigningKeyPath) {
    try {
      // Loaded only when set: the nkeys library takes ~85 ms to load, before nats-server starts.
      const { readOperatorSigningKey } = await import("./src/jwt/signing_key.ts");
      await readOperatorSigningKey(settings.operatorSigningKeyPath);
    } catch (error) {
      return fail(error, SettingsError);
    }
  }
  // What the supervisor reports besides its log: metrics, and the status (recent problems too).
  const report = new Report();
  const log = createLogger({
    level: settings.logLevel,
    format: settings.logFormat,
    onProblem: (level, message) => report.status.recordLine(level, message),
  });
  installTransportErrorGuard(log);
  reportVersions(settings, report);
  // One guard for every file read from a watched path: each rejected file is warned about once.
  const files = new FileGuard({ maxBytes: settings.maxFileBytes, log });
  // Loaded once nats-server is spawned: the NATS client is not needed before it serves clients.
  const adminJobs = LazyAdminJobs.of(settings, log, {
    config: () => pipeline.serverView(),
    files,
    onDrift: () => pipeline.requestDriftCheck(),
    report,
  });
  const pipeline: ChangePipeline = new ChangePipeline({
    settings,
    log,
    files,
    report,
    onJwtChanges: (changes) => adminJobs.onJwtChanges(changes),
    beforeRemove: (accounts) => adminJobs.deleteRemoved(accounts),
  });
  const supervisor = new Supervisor({
    settings,
    log,
    report,
    extraArgs: commandLine.serverArgs,
    companion: combine(pipeline, adminJobs),
  });
  let http: HttpEndpoint | undefined;
  try {
    if (settings.httpPort > 0) {
      http = HttpEndpoint.start({
        host: settings.httpHost,
        port: settings.httpPort,
        report,
        log,
        monitorPort: settings.monitorPort,
      });
    }
  } catch (error) {
    log.error((error as Error).message);
    return 1;
  }
  const stopListening = listenForSignals((signal) => supervisor.onSignal(signal));
  try {
    return await supervisor.run();
  } catch (error) {
    log.error((error as Error).message);
    return 1;
  } finally {
    stopListening();
    await http?.close();
  }
}

/** The versions, in `/status` and `pot_nats_build_info` (nats-server's is asked in the background). */
function reportVersions(settings: Settings, report: Report): void {
  const set = (natsServer: string | undefined) => {
    report.status.setVersions(VERSION, natsServer);
    report.metrics.buildInfo.reset();
    report.metrics.buildInfo.set({ version: VERSION, nats_server_version: natsServer ?? "" }, 1);
  };
  set(undefined);
  serverVersion(settings.serverBin).then(set, () => {/* --version failing: the start says why */});
}

type Fail = ReturnType<typeof failWith>;

async function printVersions(fail: Fail): Promise<number> {
  const bin = Deno.env.get("NATS_SERVER_BIN") ||
    SETTING_DOCS.find((d) => d.name === "NATS_SERVER_BIN")?.default || "nats-server";
  print(`pot-nats ${VERSION}`);
  try {
    return print(`nats-server ${await serverVersion(bin)} (${bin})`);
  } catch (error) {
    return fail(error);
  }
}

async function checkConfig(settings: Settings, fail: Fail): Promise<number> {
  try {
    const result = await checkServerConfig(settings.serverBin, settings.confPath);
    if (!result.ok) return fail(new Error(`NATS_CONF ${settings.confPath}: ${result.output}`));
    return print(`settings valid; ${result.output}`);
  } catch (error) {
    return fail(error);
  }
}

function print(text: string): number {
  console.log(text);
  return 0;
}

/**
 * Prints an error for the operator, as `pot-nats: <line>` or, with `POT_NATS_LOG_FORMAT=json`, as
 * JSON log lines (a log pipeline parses every line); usage and settings errors exit 2, others 1.
 * An error of another class than `expected` is a bug: it is thrown on.
 */
function failWith(format: LogFormat) {
  const log = format === "json" ? createLogger({ level: "error", format }) : undefined;
  return (error: unknown, expected?: new (...args: never[]) => Error): number => {
    if (expected && !(error instanceof expected)) throw error;
    for (const line of (error as Error).message.split("\n")) {
      if (log) log.error(line);
      else console.error(`pot-nats: ${line}`);
    }
    return expected ? 2 : 1;
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
