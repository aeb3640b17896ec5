/** JetStream streams with data in them, made and counted through the plain `$JS.API` requests. */

import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Creates the file stream `name` (subjects `<name>.>`) in the connection's account and publishes
 * `messages` messages to it, on `<name>.0`, `<name>.1`, …, each one acknowledged.
 * @throws an AssertionError when the server refuses the stream, and the request's error when a
 * publish is not acknowledged.
 */
export async function createStream(
  nc: NatsConnection,
  name: string,
  messages: number,
): Promise<void> {
  const config = { name, subjects: [`${name}.>`], storage: "file" };
  const created = (await nc.request(`$JS.API.STREAM.CREATE.${name}`, JSON.stringify(config), {
    timeout: 5000,
  })).json<{ error?: unknown }>();
  assert.equal(created.error, undefined, `stream ${name}: ${JSON.stringify(created.error)}`);
  for (let i = 0; i < messages; i++) {
    await nc.request(`${name}.${i}`, `message ${i}`, { timeout: 5000 });
  }
}

/**
 * @returns how many messages the stream `name` in the connection's account holds.
 * @throws an AssertionError when the server reports no state (no such stream).
 */
export async function streamMessages(nc: NatsConnection, name: string): Promise<number> {
  const info = (await nc.request(`$JS.API.STREAM.INFO.${name}`, "", { timeout: 5000 })).json<
    { state?: { messages: number }; error?: unknown }
  >();
  assert.ok(info.state, `stream ${name}: ${JSON.stringify(info.error)}`);
  return info.state.messages;
}
