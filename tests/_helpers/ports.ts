/** Free loopback ports for test servers; never the well-known NATS ports a machine may be using. */

const RESERVED = new Set([4222, 6222, 7422, 8222]);

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  while (true) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    if (!RESERVED.has(port)) return port;
  }
}
