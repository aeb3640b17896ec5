/**
 * Connects to the demo server as a user of a demo account, publishes one message and receives it:
 *   deno run -A scripts/demo_client.ts [account-name]   (default: the "demo" account)
 */

import { join } from "node:path";
import { connectWithCreds } from "../dev/nats_client.ts";
import { DEMO_CLIENT_PORT, DEMO_DIR } from "./demo.ts";

const account = Deno.args[0] ?? "demo";
const creds = await Deno.readTextFile(join(DEMO_DIR, "users", `${account}.creds`));
const nc = await connectWithCreds(`nats://127.0.0.1:${DEMO_CLIENT_PORT}`, creds);
const sub = nc.subscribe("demo.hello", { max: 1 });
nc.publish("demo.hello", `hello from ${account}`);
for await (const msg of sub) console.log(`received on ${msg.subject}: ${msg.string()}`);
await nc.close();
