/**
 * What the demo prints, as pure functions of what it found: the commands in the form that runs on
 * this machine (`deno task ...` when `deno` is on the user's PATH, else `npx -y deno@<v> task
 * ...`), the banner with an account's whole life cycle, and the message when its ports are taken.
 *
 * @module
 */

import { delimiter, join } from "node:path";

/**
 * How to run Deno from the user's shell: `deno` when a `deno` is on PATH outside the folders npm
 * adds for the command it runs (`node_modules/.bin`, node-gyp's): under `npx -y deno@2.9.6 task
 * demo`, PATH holds npx's own `deno`, which the user's shell will not have.
 * @returns `deno`, or `npx -y deno@<denoVersion>`
 */
export function denoRunner(options: {
  path: string | undefined;
  denoVersion: string;
  isExecutable: (file: string) => boolean;
}): string {
  const userDirs = (options.path ?? "").split(delimiter).filter((dir) =>
    dir !== "" && !/(^|[\\/])node_modules[\\/]/.test(dir) && !/[\\/]node-gyp-bin$/.test(dir)
  );
  return userDirs.some((dir) => options.isExecutable(join(dir, "deno")))
    ? "deno"
    : `npx -y deno@${options.denoVersion}`;
}

/** A word as a POSIX shell reads it back: bare when plain, otherwise single-quoted. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** How the demo's follow-up commands are written on this machine. */
export interface CommandForm {
  /** `deno` or `npx -y deno@<version>` (see {@linkcode denoRunner}). */
  runner: string;
  /** Variables to set in front of each command (the demo folder when it is not the default). */
  env: Readonly<Record<string, string>>;
}

/** @returns `[VAR=value ...] <runner> task <task> [args...]`, quoted for a POSIX shell */
export function taskCommand(form: CommandForm, task: string, args: readonly string[] = []): string {
  const env = Object.entries(form.env).map(([name, value]) => `${name}=${shellWord(value)}`);
  return [...env, form.runner, "task", task, ...args.map(shellWord)].join(" ");
}

/** What the banner shows. */
export interface BannerInfo {
  form: CommandForm;
  /** The demo folder as the user should type it (relative to the repository when inside it). */
  dir: string;
  clientUrl: string;
  monitorPort: number;
  /** The supervisor's own endpoint. */
  httpPort: number;
  serverVersion: string;
  graceSeconds: number;
  /** The account the banner walks through. */
  account: string;
}

/**
 * The banner printed once the demo's server is ready. Each step of an account's life cycle is a
 * command as it runs on this machine, then `# what it shows`: a line pasted whole runs as well.
 */
export function bannerText(info: BannerInfo): string {
  const { form, dir, account } = info;
  const steps: [string, string[], string][] = [
    ["demo:account", ["add", account], "a new account's JWT appears in the mount"],
    ["demo:client", [account], "its user connects, publishes, keeps the message in stream DEMO"],
    ["demo:account", ["limit", account, "1"], "change a limit: at most 1 stream, pushed live"],
    ["demo:client", [account], "...the client sees the new limit"],
    ["demo:account", ["remove", account], "its JWT leaves the mount: the account is deleted live"],
    ["demo:client", [account], "...its user is refused"],
    ["demo:account", ["list"], `${info.graceSeconds} s after the removal: "removed, data purged"`],
  ];
  const commands = steps.map(([task, args]) => taskCommand(form, task, args));
  const width = Math.max(...commands.map((command) => command.length));
  return [
    `pot-nats demo: ready, nats-server ${info.serverVersion} in operator mode (full resolver, ` +
    `JetStream), files in ${dir}/`,
    `  clients:  ${info.clientUrl}   (a user of account demo: ${dir}/users/demo.creds)`,
    `  monitor:  http://127.0.0.1:${info.monitorPort}/   (/varz, /connz, /accountz, /jsz)`,
    `  pot-nats: http://127.0.0.1:${info.httpPort}/status   (/metrics, /healthz, /readyz), or: ` +
    taskCommand(
      { ...form, env: { ...form.env, POT_NATS_HTTP_PORT: String(info.httpPort) } },
      "start",
      ["status"],
    ),
    `  mount:    ${dir}/jwt-mount/   resolver dir: ${dir}/jwt/   JetStream: ${dir}/data/`,
    `  removed accounts are deleted live (operator signing key: ${dir}/operator-signing.nk), and ` +
    `their data is purged after ${info.graceSeconds} s`,
    `  (POT_NATS_PURGE_GRACE_SECONDS: the demo shortens the default 60 s; set it to change this)`,
    "",
    `An account's life cycle, from another terminal in this repository:`,
    ...commands.map((command, i) => `  ${command.padEnd(width)}  # ${steps[i]![2]}`),
    `  With the nats CLI, if installed: nats --creds ${dir}/users/demo.creds -s ${info.clientUrl} ` +
    `pub hello world`,
    "",
    `Stop: Ctrl-C here; the demo also stops when the command that started it ends.`,
    `Start over: stop it, then rm -rf ${shellWord(dir)}`,
  ].join("\n");
}

/**
 * The message when something already listens on one of the demo's ports, said before anything
 * starts: the supervisor would refuse too, but in its own terms.
 * @param what what listens there (`src/server/port_check.ts`'s description of its greeting)
 */
export function portTakenMessage(options: {
  port: number;
  role: "client" | "monitor" | "http";
  what: string;
  demoServerName: string;
  form: CommandForm;
}): string {
  const { port, role, what, form } = options;
  const elsewhere = taskCommand(
    {
      ...form,
      env: {
        POT_NATS_DEMO_DIR: ".demo2",
        POT_NATS_DEMO_PORT: "14223",
        POT_NATS_DEMO_MONITOR_PORT: "18224",
        POT_NATS_DEMO_HTTP_PORT: "18225",
      },
    },
    "demo",
  );
  if (role === "client" && what.includes(JSON.stringify(options.demoServerName))) {
    return `a demo already runs on ${port} (${what}): stop it first (Ctrl-C in its terminal), ` +
      `or start another beside it with its own folder and ports: ${elsewhere}`;
  }
  return `port ${port}, the demo's ${role} port, is taken by ${what}: stop that, or start the ` +
    `demo with its own folder and ports: ${elsewhere}`;
}
