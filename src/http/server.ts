/**
 * The supervisor's own HTTP endpoint (`POT_NATS_HTTP_PORT`, `POT_NATS_HTTP_HOST`): read-only, for
 * scrapers, probes, people and scripts. It never shows a credential, a seed or a JWT: what it
 * serves comes from the metrics and the status board, whose texts the logger's masking and bounds
 * have passed.
 *
 * - `GET /metrics`: Prometheus text exposition.
 * - `GET /status`: the status document as JSON.
 * - `GET /healthz`: liveness: 200 while the event loop answers and nats-server runs.
 * - `GET /readyz`: readiness (see `decideReadiness`); 503 with a one-line reason otherwise.
 *
 * @module
 */

import { formatAddress } from "../shared/host_port.ts";
import { errorMessage } from "../shared/errors.ts";
import { clip, type Logger } from "../shared/log.ts";
import { getMonitor } from "../shared/monitor.ts";
import type { Report } from "../report/report.ts";
import { decideReadiness } from "../report/status.ts";

export interface HttpEndpointOptions {
  host: string;
  port: number;
  report: Report;
  log: Logger;
  /** nats-server's monitor port (0: off), whose `/healthz` readiness also asks. */
  monitorPort: number;
}

/** Thrown when the endpoint cannot listen; the message names the setting and the fix. */
export class HttpListenError extends Error {
  override name = "HttpListenError";
}

/** The running endpoint; `close()` stops it. */
export class HttpEndpoint {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly port: number;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
    this.port = server.addr.port;
  }

  /**
   * Listens on host:port.
   * @throws {HttpListenError} when the address is in use or cannot be bound
   */
  static start(options: HttpEndpointOptions): HttpEndpoint {
    const handler = (request: Request) => handle(request, options);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: options.host,
        port: options.port,
        onListen: () => {}, // the log line below says it, in the supervisor's format
        onError: (error) => {
          options.log.error("the HTTP endpoint failed to answer a request", { error });
          return new Response("internal error\n", { status: 500 });
        },
      }, handler);
    } catch (error) {
      const address = formatAddress(options.host, options.port);
      const cause = error instanceof Deno.errors.AddrInUse
        ? "is in use (another pot-nats, or something else?)"
        : `cannot be bound: ${errorMessage(error)}`;
      throw new HttpListenError(
        `the HTTP endpoint's address ${address} (POT_NATS_HTTP_HOST, POT_NATS_HTTP_PORT) ${cause}; ` +
          "set POT_NATS_HTTP_PORT to a free port, or to 0 to turn the endpoint off",
        { cause: error },
      );
    }
    options.log.info("serving /metrics, /status, /healthz and /readyz", {
      address: formatAddress(options.host, server.addr.port),
    });
    return new HttpEndpoint(server);
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

async function handle(request: Request, options: HttpEndpointOptions): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "only GET and HEAD\n", { allow: "GET, HEAD" });
  }
  const { metrics, status } = options.report;
  switch (new URL(request.url).pathname) {
    case "/metrics":
      return new Response(await metrics.text(), {
        headers: { "content-type": metrics.contentType },
      });
    case "/status":
      return Response.json(status.snapshot(), { headers: { "cache-control": "no-store" } });
    case "/healthz":
      return status.serverRunning
        ? text(200, "ok: nats-server runs\n")
        : text(503, "nats-server is not running\n");
    case "/readyz": {
      const readiness = decideReadiness(status, await serverHealth(options.monitorPort));
      return readiness.ready ? text(200, "ready\n") : text(503, `not ready: ${readiness.reason}\n`);
    }
    default:
      return text(404, "not found: try /metrics, /status, /healthz or /readyz\n");
  }
}

/** nats-server's own `/healthz`, or undefined when its monitor is off. */
async function serverHealth(
  monitorPort: number,
): Promise<{ ok: boolean; reason: string } | undefined> {
  if (monitorPort === 0) return undefined;
  try {
    // Up, with JetStream enabled; not "every stream caught up", which a cluster may take minutes
    // for and which would take a serving pod out of its Service meanwhile.
    const response = await getMonitor(monitorPort, "healthz?js-server-only=true", {
      timeoutMs: 1000,
    });
    return { ok: response.ok, reason: `${response.status} ${clip(response.text.trim(), 200)}` };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
