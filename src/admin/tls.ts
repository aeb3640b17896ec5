/**
 * Which TLS files the admin connection uses. TLS is used when the client URL is `tls://` or the
 * server config requires TLS of clients (a top-level `tls` block); then each file is the
 * `POT_NATS_CLIENT_TLS_*` setting, else `ca.crt` / `tls.crt` / `tls.key` in `NATS_SSL_DIR` when
 * present. Pure: existence checks are passed in.
 */

import { join } from "node:path";
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
