/** A throwaway dev setup on free ports, removed afterwards. */

import { createDevSetup, type DevSetup, type DevSetupOptions } from "../../scripts/dev_setup.ts";
import { resolveNatsServer } from "../../scripts/nats_server.ts";
import { freePort } from "./ports.ts";

let serverBin: Promise<string> | undefined;

/** The nats-server binary for tests (resolved once per test process). */
export function natsServerBin(): Promise<string> {
  serverBin ??= resolveNatsServer();
  return serverBin;
}

export interface TempSetup extends DevSetup, AsyncDisposable {}

/** Creates a dev setup in a new temporary directory; disposing it removes the directory. */
export async function tempSetup(options: Partial<DevSetupOptions> = {}): Promise<TempSetup> {
  const dir = await Deno.makeTempDir({ prefix: "pot-nats-test-" });
  const setup = await createDevSetup(dir, {
    clientPort: freePort(),
    monitorPort: freePort(),
    serverBin: await natsServerBin(),
    ...options,
  });
  return {
    ...setup,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}
