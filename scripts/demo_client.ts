/**
 * Connects to the running demo as the user of one of its accounts, publishes one message into the
 * account's stream `DEMO` (created on first use) and receives it, then reports the stream and the
 * account's JetStream limits as the server enforces them now:
 *   deno task demo:client [account]   (default: the "demo" account)
 *
 * Exits 1, saying why, when the user is refused (a removed account) or no demo runs.
 */

import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import { join } from "node:path";
import { installTransportErrorGuard } from "../src/admin/transport_guard.ts";
import { silentLogger } from "../src/shared/log.ts";
import { commandForm, demoLocation, openDemoFolder, shownDir } from "./demo_setup.ts";
import { taskCommand } from "./demo_text.ts";

const STREAM = "DEMO";
/**
 * A refused user is told so only after the server has looked for the account in its resolver (the
 * demo's resolver `timeout` is 1.9 s), so the connect must wait longer than that to hear it.
 */
const CONNECT_TIMEOUT_MS = 5000;

interface JetStreamReply {
  error?: { code: number; description: string };
}

async function jsRequest<T>(nc: NatsConnection, subject: string, body = ""): Promise<T> {
  return (await nc.request(subject, body, { timeout: 2000 })).json<T>();
}

async function run(account: string): Promise<string> {
  const location = demoLocation(Deno.env.toObject());
  const form = commandForm(location);
  const setup = await openDemoFolder(location);
  const credsPath = join(setup.usersDir, `${account}.creds`);
  let creds: string;
  try {
    creds = await Deno.readTextFile(credsPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `no user creds for account ${account} (${shownDir(credsPath)}); add the account first: ` +
        taskCommand(form, "demo:account", ["add", account]),
    );
  }

  let nc: NatsConnection;
  try {
    // After a refusal the Node transport can raise an uncaught ECONNRESET; it is not our error.
    installTransportErrorGuard(silentLogger);
    nc = await connect({
      servers: setup.clientUrl,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      reconnect: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
  } catch (error) {
    if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
      throw new Error(
        `the user of account ${account} was refused by ${setup.clientUrl}: ${
          (error as Error).message
        } (an account removed from the mount is deleted live)`,
      );
    }
    throw new Error(
      `cannot connect to ${setup.clientUrl}: ${(error as Error).message}; is the demo running? ` +
        taskCommand(form, "demo"),
    );
  }
  try {
    const lines = [`connected to ${setup.clientUrl} as the user of account ${account}`];
    const info = await jsRequest<JetStreamReply>(nc, `$JS.API.STREAM.INFO.${STREAM}`);
    if (info.error) {
      const config = { name: STREAM, subjects: ["demo.>"], storage: "file" };
      const created = await jsRequest<JetStreamReply>(
        nc,
        `$JS.API.STREAM.CREATE.${STREAM}`,
        JSON.stringify(config),
      );
      if (created.error) lines.push(`stream ${STREAM} not created: ${created.error.description}`);
    }
    const received = nc.subscribe("demo.hello", { max: 1 });
    const ack = await nc.request("demo.hello", `hello from ${account}`, { timeout: 2000 })
      .then((reply) => reply.json<{ seq?: number }>(), () => undefined);
    for await (const msg of received) lines.push(`received on ${msg.subject}: ${msg.string()}`);

    const stream = await jsRequest<JetStreamReply & { state?: { messages: number } }>(
      nc,
      `$JS.API.STREAM.INFO.${STREAM}`,
    );
    if (stream.state) {
      lines.push(
        `stream ${STREAM} keeps ${stream.state.messages} message(s)` +
          `${ack?.seq ? ` (this one is #${ack.seq})` : ""}, on disk in ` +
          `${shownDir(join(setup.storeDir, "jetstream"))}/<account key>/`,
      );
    }
    const limits = await jsRequest<
      JetStreamReply & { streams?: number; limits?: { max_streams?: number } }
    >(nc, "$JS.API.INFO");
    const max = limits.limits?.max_streams;
    lines.push(
      `account ${account}: ${limits.streams ?? 0} stream(s) in use, ` +
        `${max === undefined || max < 0 ? "no limit" : `at most ${max}`}`,
    );
    return lines.join("\n");
  } finally {
    await nc.close();
  }
}

if (import.meta.main) {
  try {
    if (Deno.args.length > 1) throw new Error("usage: demo:client [account]");
    console.log(await run(Deno.args[0] ?? "demo"));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
