/** Host and port as one address, the way URLs and `net.JoinHostPort` write them. */

/** `host:port`, with an IPv6 host in brackets (`[::1]:4222`). */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
