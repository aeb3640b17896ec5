/**
 * Which TLS files the admin connection uses. TLS is used when the client URL is `tls://` or the
 * server config requires TLS of clients (a top-level `tls` block); then each file is the
 * `POT_NATS_CLIENT_TLS_*` setting, else `ca.crt` / `tls.crt` / `tls.key` in `NATS_SSL_DIR` when
 * present. Pure: existence checks are passed in.
 */

import { join } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { TlsOptions } from "@nats-io/transport-node";
import { errorMessage } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import type { TlsFiles } from "../cli/settings.ts";

export interface ClientTlsInputs {
  clientUrl: string;
  sslDir: string;
  settings: TlsFiles;
  serverRequiresTls: boolean;
  exists: (path: string) => boolean;
}

/** True for a URL that requires TLS (`tls://`, any case). */
export function isTlsUrl(url: string): boolean {
  return /^tls:\/\//i.test(url.trim());
}

/** @returns the files to use, or undefined for a plain connection. */
export function chooseClientTls(inputs: ClientTlsInputs): TlsFiles | undefined {
  const wanted = isTlsUrl(inputs.clientUrl) || inputs.serverRequiresTls;
  if (!wanted) return undefined;
  const pick = (setting: string | undefined, fallback: string) => {
    if (setting) return setting;
    const path = join(inputs.sslDir, fallback);
    return inputs.exists(path) ? path : undefined;
  };
  const files: TlsFiles = {};
  const ca = pick(inputs.settings.ca, "ca.crt");
  const cert = pick(inputs.settings.cert, "tls.crt");
  const key = pick(inputs.settings.key, "tls.key");
  if (ca) files.ca = ca;
  // A client certificate needs its key; one without the other is not used.
  if (cert && key) {
    files.cert = cert;
    files.key = key;
  }
  return files;
}

/**
 * Whether the admin connection asks for TLS, and with which nats.js options: always for a `tls://`
 * URL; with a `nats://` URL only while TLS files are given and the server has not said that it
 * offers no TLS (then it falls back to plain TCP, once, and says so).
 */
export class ClientTlsMode {
  readonly #url: string;
  readonly #files: TlsFiles | undefined;
  readonly #log: Logger;
  /** Set after the server said it offers no TLS on a `nats://` URL: TLS files are then ignored. */
  #unavailable = false;

  constructor(url: string, files: TlsFiles | undefined, log: Logger) {
    this.#url = url;
    this.#files = files;
    this.#log = log;
  }

  /** Whether the next connection asks for TLS. */
  get wanted(): boolean {
    if (isTlsUrl(this.#url)) return true;
    const files = this.#files;
    return !this.#unavailable && Boolean(files?.ca || files?.cert || files?.key);
  }

  /** The nats.js TLS options of the next connection, or undefined for plain TCP. */
  options(): TlsOptions | undefined {
    if (!this.wanted) return undefined;
    const files = this.#files;
    const host = urlHostname(this.#url);
    // nats.js passes no server name for an IP address, and Deno's node:tls then checks the
    // certificate against "localhost": check it against the host of the URL instead (the chain is
    // still verified against the CA as usual).
    const options: TlsOptions & {
      checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
    } = { checkServerIdentity: (_hostname, cert) => checkServerIdentity(host, cert) };
    if (files?.ca) options.caFile = files.ca;
    if (files?.cert) options.certFile = files.cert;
    if (files?.key) options.keyFile = files.key;
    return options;
  }

  /**
   * Takes a failed attempt's error: true (and from now on plain TCP) when TLS was asked for only
   * because files exist, and the server offers none.
   */
  fallBackToPlain(error: unknown): boolean {
    if (isTlsUrl(this.#url) || this.#unavailable || !this.wanted) return false;
    if (!/does not support 'tls'/.test(errorMessage(error))) return false;
    this.#unavailable = true;
    this.#log.info(
      "the server offers no TLS on its client port; the admin connection uses plain TCP " +
        "(use a tls:// NATS_CLIENT_URL to require TLS)",
      { url: this.#url },
    );
    return true;
  }
}

/** The host of a server URL (`nats://host:port`, `tls://[::1]:4222`, `host:port`). */
function urlHostname(url: string): string {
  const authority = url.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0] ?? "";
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const bracketed = hostPort.match(/^\[([^\]]+)\]/);
  if (bracketed) return bracketed[1]!;
  return hostPort.split(":")[0] ?? hostPort;
}
