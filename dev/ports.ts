/**
 * Free loopback ports for test servers; never the well-known NATS ports a machine may be using.
 *
 * Ports are picked at random below the kernel's ephemeral range (Linux default 32768-60999): a port
 * the kernel hands out for port 0 is ephemeral, so between "found free" and "bound by nats-server"
 * an outgoing connection of a parallel test could be given the very same port.
 */

const RESERVED = new Set([4222, 6222, 7422, 8222]);
const LOW = 20000;
const HIGH = 32000;

/**
 * Ports handed out by this module instance: a setup picks its client, monitor and HTTP ports before
 * any is bound, so "free a moment ago" alone once gave the same port twice (seen in CI).
 */
const handedOut = new Set<number>();

/** A TCP port on 127.0.0.1 that was free a moment ago and that no outgoing connection will take. */
export function freePort(): number {
  while (true) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (RESERVED.has(port) || handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      handedOut.add(port);
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}
