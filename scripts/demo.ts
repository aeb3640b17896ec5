/**
 * `deno task demo`: creates (once) a development setup under `.demo/` and runs pot-nats on it, on
 * the documented ports 14222 (clients) and 18222 (monitor). Ctrl-C stops it.
 */

import { join } from "node:path";
import { main } from "../main.ts";
import { openDevSetup } from "../dev/dev_setup.ts";
import { REPO_ROOT, resolveNatsServer } from "./nats_server.ts";

export const DEMO_DIR = join(REPO_ROOT, ".demo");
export const DEMO_CLIENT_PORT = 14222;
export const DEMO_MONITOR_PORT = 18222;

/** Opens the demo setup (creating it on first use). */
export async function openDemo(serverBin?: string) {
  return await openDevSetup(DEMO_DIR, {
    clientPort: DEMO_CLIENT_PORT,
    monitorPort: DEMO_MONITOR_PORT,
    serverBin: serverBin ?? await resolveNatsServer((line) => console.error(line)),
    serverName: "pot_nats_demo",
  });
}

if (import.meta.main) {
  const setup = await openDemo();
  const rel = (path: string) => path.replace(REPO_ROOT, "");
  console.log(`
pot-nats demo: setup in ${rel(setup.dir)}/ (operator mode, full resolver, JetStream)
  clients:  ${setup.clientUrl}   (demo user creds: ${rel(setup.usersDir)}/demo.creds)
  monitor:  http://127.0.0.1:${DEMO_MONITOR_PORT}/varz
  mount:    ${rel(setup.mountDir)}/   resolver dir: ${rel(setup.jwtDir)}/

Try it (another terminal, from the repo):
  nats --creds .demo/users/demo.creds -s ${setup.clientUrl} pub hello world   # with the nats CLI
  deno run -A scripts/demo_client.ts                 # or: publish+receive as the demo user
  deno run -A scripts/demo_account.ts add orders     # a new account appears in the mount
  deno run -A scripts/demo_client.ts orders          # ...and its user can connect
  deno run -A scripts/demo_account.ts remove orders  # the account leaves the mount
Ctrl-C stops the supervisor and nats-server.
`);
  for (const [name, value] of Object.entries(setup.env)) Deno.env.set(name, value);
  Deno.exit(await main([]));
}
