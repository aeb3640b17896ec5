/**
 * The check before nats-server starts: is anything already accepting connections where the child
 * will listen? A second nats-server (or pot-nats) on the same ports makes the child exit with
 * "address already in use", and until then the admin connection would push and purge on the other
 * server, so the supervisor refuses to start instead and says what is in the way.
 *
 * @module
 */

import type { ListenAddress } from "../config/listen_addresses.ts";
import { connectHost, formatAddress } from "../shared/host_port.ts";
import type { Logger } from "../shared/log.ts";
import { ServerView } from "../config/server_view.ts";
import { errorMessage } from "../shared/errors.ts";

/** A local connect is accepted or refused at once; longer means a filtered address: not ours. */
const CONNECT_TIMEOUT_MS = 1000;
/** How long to wait for a NATS server's INFO line, to say which server is in the way. */
const GREETING_MS = 300;

export interface PortCheckOptions {
  confPath: string;
  monitorPort: number;
  extraArgs: readonly string[];
  log: Logger;
  /** What listens on an address (default: {@linkcode probeListener}); for tests. */
  probe?: (host: string, port: number) => Promise<string | undefined>;
}

/**
 * Looks at the client and monitor addresses the child will listen on.
 * @returns an operator's message naming the first address in use, what listens there, what sets
 * it and what to do; undefined when all are free (or the config cannot be read: nats-server will
 * say what is wrong with it)
 */
export async function findPortInUse(options: PortCheckOptions): Promise<string | undefined> {
  let addresses: ListenAddress[];
  try {
    addresses = ServerView.read(options.confPath).listenAddresses(options);
  } catch (error) {
    options.log.debug("port check skipped: the server config cannot be read", { error });
    return undefined;
  }
  const probe = options.probe ?? probeListener;
  for (const address of addresses) {
    const host = connectHost(address.host);
    const what = await probe(host, address.port);
    if (what === undefined) continue;
    return `cannot start nats-server: ${what} already listens on ${
      formatAddress(host, address.port)
    }, the ${address.role} port (${address.setting}); another nats-server or pot-nats runs ` +
      `here? Stop it, or give this server other ports`;
  }
  return undefined;
}

/**
 * Connects to `host:port` and, when something accepts, reads its greeting to tell a NATS server
 * from anything else.
 * @returns a description of what listens (`nats-server 2.10.27 "name" (id N...)`, or "something"),
 * or undefined when nothing accepts the connection
 */
export async function probeListener(host: string, port: number): Promise<string | undefined> {
  let conn: Deno.TcpConn;
  const connecting = Deno.connect({ hostname: host, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const winner = await Promise.race([
      connecting,
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), CONNECT_TIMEOUT_MS)
      ),
    ]);
    if (winner === undefined) {
      connecting.then((late) => late.close(), () => {});
      return undefined;
    }
    conn = winner;
  } catch {
    return undefined; // refused, unreachable: nothing of ours can be in the way there
  } finally {
    clearTimeout(timer);
  }
  try {
    const greeting = await readGreeting(conn);
    return describeGreeting(greeting);
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the peer: nothing to release.
    }
  }
}

/** The first bytes the peer sends within GREETING_MS (empty when it says nothing). */
async function readGreeting(conn: Deno.TcpConn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const read = await Promise.race([
      conn.read(buffer),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), GREETING_MS)),
    ]);
    return read ? new TextDecoder().decode(buffer.subarray(0, read)) : "";
  } catch (error) {
    return `(read failed: ${errorMessage(error)})`;
  } finally {
    clearTimeout(timer);
  }
}

/** `INFO {...}` names a NATS server; anything else is "something". */
export function describeGreeting(greeting: string): string {
  const match = greeting.match(/^INFO\s+(\{.*\})/);
  if (!match) return "something";
  try {
    const info = JSON.parse(match[1]!) as Record<string, unknown>;
    const parts = ["nats-server"];
    if (typeof info.version === "string") parts.push(info.version);
    if (typeof info.server_name === "string") parts.push(JSON.stringify(info.server_name));
    if (typeof info.server_id === "string") parts.push(`(id ${info.server_id})`);
    return parts.join(" ");
  } catch {
    return "a NATS server";
  }
}
