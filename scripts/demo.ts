/**
 * `deno task demo`: creates (once) a development setup in `.demo/` and runs pot-nats on it, in this
 * process, on ports 14222 (clients) and 18222 (monitor), with live account deletes and a short
 * purge grace, so an account's whole life cycle can be walked from another terminal with the
 * commands the banner prints (`deno task demo:account ...`, `deno task demo:client ...`).
 *
 * Before anything starts it makes sure no other demo (or anything else) listens on its ports; once
 * running it stops on Ctrl-C, on SIGTERM, and when the command that started it is gone.
 */

import { main } from "../main.ts";
import { checkHealth } from "../src/cli/healthcheck.ts";
import { probeListener } from "../src/server/port_check.ts";
import { serverVersion } from "../src/server/server_binary.ts";
import {
  commandForm,
  DEMO_SERVER_NAME,
  demoLocation,
  openDemoForRun,
  shownDir,
  signingKeyPath,
} from "./demo_setup.ts";
import { bannerText, portTakenMessage } from "./demo_text.ts";
import { resolveNatsServer } from "./nats_server.ts";
import { watchLaunchers } from "./parent_watch.ts";

/** The demo's purge grace: long enough to see the data still there, short enough to wait for. */
const DEMO_GRACE_SECONDS = "10";

async function runDemo(): Promise<number> {
  const location = demoLocation(Deno.env.toObject());
  const form = commandForm(location);
  for (
    const [role, port] of [
      ["client", location.clientPort],
      ["monitor", location.monitorPort],
      ["http", location.httpPort],
    ] as const
  ) {
    const what = await probeListener("127.0.0.1", port);
    if (what !== undefined) {
      console.error(
        `pot-nats demo: ${
          portTakenMessage({ port, role, what, demoServerName: DEMO_SERVER_NAME, form })
        }`,
      );
      return 1;
    }
  }

  const serverBin = await resolveNatsServer((line) => console.error(line));
  const setup = await openDemoForRun(location, serverBin);
  const graceSeconds = Deno.env.get("POT_NATS_PURGE_GRACE_SECONDS") || DEMO_GRACE_SECONDS;
  const env: Record<string, string> = {
    ...setup.env,
    POT_NATS_OPERATOR_SIGNING_KEY: signingKeyPath(setup),
    POT_NATS_PURGE_GRACE_SECONDS: graceSeconds,
  };
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);

  using _launchers = watchLaunchers({
    onGone: (who) => {
      console.error(`pot-nats demo: ${who}, which started the demo, is gone: stopping`);
      Deno.kill(Deno.pid, "SIGTERM"); // the supervisor's own stop, as for any SIGTERM
    },
  });
  const running = main([]);
  let stopped = false;
  const markStopped = () => stopped = true;
  running.then(markStopped, markStopped);
  // The banner comes once the server answers, after its start-up lines, so it stays in view.
  const asked = { httpPort: location.httpPort, httpHost: "127.0.0.1", monitorPort: 0 };
  while (!stopped && !(await checkHealth(asked, { ready: true, timeoutMs: 500 })).ok) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!stopped) {
    console.log(bannerText({
      form,
      dir: shownDir(location.dir),
      clientUrl: setup.clientUrl,
      monitorPort: location.monitorPort,
      httpPort: location.httpPort,
      serverVersion: await serverVersion(serverBin),
      graceSeconds: Number(graceSeconds),
      account: "orders",
    }));
  }
  return await running;
}

if (import.meta.main) {
  try {
    Deno.exit(await runDemo());
  } catch (error) {
    console.error(`pot-nats demo: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
