/** A throwaway dev setup on free ports with the tests' nats-server, removed afterwards. */

import {
  createTempDevSetup,
  type DevSetupOptions,
  type TempDevSetup,
} from "../../dev/dev_setup.ts";
import { resolveNatsServer } from "../../scripts/nats_server.ts";

let serverBin: Promise<string> | undefined;

/** The nats-server binary for tests (resolved once per test process). */
export function natsServerBin(): Promise<string> {
  serverBin ??= resolveNatsServer();
  return serverBin;
}

export type TempSetup = TempDevSetup;

/** Creates a dev setup in a new temporary directory; disposing it removes the directory. */
export async function tempSetup(options: Partial<DevSetupOptions> = {}): Promise<TempSetup> {
  return await createTempDevSetup({ serverBin: await natsServerBin(), ...options });
}
