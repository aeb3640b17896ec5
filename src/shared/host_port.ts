/** Host and port as one address, the way URLs and `net.JoinHostPort` write them. */

/** `host:port`, with an IPv6 host in brackets (`[::1]:4222`). */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The host to connect to for a listen host: a wildcard (`0.0.0.0`, `::`, empty) means every
 * interface, so the loopback address of its family; anything else as is (brackets removed).
 */
export function connectHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare === "" || bare === "0.0.0.0") return "127.0.0.1";
  if (bare === "::") return "::1";
  return bare;
}
