/**
 * Under Deno, the NATS Node transport can raise an uncaught `ECONNRESET` after the server refuses a
 * connection, which would end the process: {@linkcode installTransportErrorGuard} handles exactly
 * that class of socket errors and leaves every other uncaught error fatal.
 *
 * @module
 */

import type { Logger } from "../shared/log.ts";

/**
 * Node socket error codes that only mean "the peer went away": a write to a socket the server has
 * already closed fails with ERR_STREAM_WRITE_AFTER_END (seen when a stop closed the admin
 * connection while nats-server, just sent a SIGHUP, was dropping its clients).
 */
const SOCKET_ERROR_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ERR_STREAM_WRITE_AFTER_END",
]);
const SOCKET_ERROR_MESSAGE =
  /^(?:(?:read|write) (?:ECONNRESET|EPIPE|ECONNABORTED)\b|write after end$)/;

/**
 * True for the socket errors the Node transport can leave uncaught when the server closes a
 * connection (`read ECONNRESET`, `write EPIPE`, `write after end`): a lost connection, which
 * nats.js handles anyway.
 */
export function isTransportSocketError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === "string" && SOCKET_ERROR_CODES.has(code)) return true;
  return SOCKET_ERROR_MESSAGE.test(error.message);
}

/**
 * Keeps the process alive when the NATS Node transport raises an uncaught socket error (seen after
 * an "Authorization Violation": `Error: read ECONNRESET` from `TCPWrap.onStreamRead`). Only errors
 * that {@linkcode isTransportSocketError} accepts are handled (logged at debug level); every other
 * uncaught error or unhandled rejection still ends the process as usual.
 *
 * @returns a function that removes the guard
 */
export function installTransportErrorGuard(log: Logger): () => void {
  const onError = (event: ErrorEvent) => {
    if (!isTransportSocketError(event.error)) return;
    event.preventDefault();
    log.debug("ignored a socket error of the NATS transport (the connection is retried)", {
      error: event.error,
    });
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    if (!isTransportSocketError(event.reason)) return;
    event.preventDefault();
    log.debug("ignored a socket error of the NATS transport (the connection is retried)", {
      error: event.reason,
    });
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}
