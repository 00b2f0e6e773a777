import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthProbe {
  /** Liveness: the process works (not stopped, not wedged); Kubernetes restarts it otherwise. */
  live(): boolean;
  /** Readiness: joined, no model fault holding intake, not stalled; alerts and humans look. */
  ready(): boolean;
}

/**
 * Limits that keep slow, half-open or hostile clients from holding the server. A scrape or a
 * probe is one small GET answered in milliseconds; anything beyond these is not one.
 */
export const HEALTH_SERVER_LIMITS = {
  /** Request line and headers together, in bytes (Node's default is 16 KiB). */
  maxHeaderBytes: 8_192,
  /** The whole request head must arrive within this. */
  headersTimeoutMs: 5_000,
  /** The whole request, body included. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Connections at once; more are refused until some close. */
  maxConnections: 64,
} as const;

/**
 * Serves /metrics (Prometheus), /healthz (liveness) and /readyz (readiness) on `host`:`port`.
 * Routes by the request target's path, so a query string is ignored; HEAD answers like GET
 * without a body. Any bytes get a response or a closed socket, never a crash: an unparsable
 * target is 400, another method 405, another path 404, an over-long or malformed head 400/431.
 */
export async function startHealthServer(
  host: string,
  port: number,
  registry: Registry,
  probe: HealthProbe,
): Promise<Server> {
  const limits = HEALTH_SERVER_LIMITS;
  const server = createServer({ maxHeaderSize: limits.maxHeaderBytes }, (request, response) => {
    try {
      route(request, response, registry, probe);
    } catch (error) {
      reply(request, response, 500, `${error instanceof Error ? error.message : 'error'}\n`);
    }
  });
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // A head Node cannot parse: answer 400 (431 when too large) when the socket can still take it.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function route(
  request: IncomingMessage,
  response: ServerResponse,
  registry: Registry,
  probe: HealthProbe,
): void {
  const path = pathOf(request.url);
  if (path === undefined) return reply(request, response, 400, 'bad request target\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return reply(request, response, 405, 'method not allowed\n');
  }
  switch (path) {
    case '/metrics':
      registry.metrics().then(
        (text) => reply(request, response, 200, text, registry.contentType),
        (error: unknown) =>
          reply(request, response, 500, error instanceof Error ? error.message : 'error'),
      );
      return;
    case '/healthz':
      return probe.live()
        ? reply(request, response, 200, 'ok\n')
        : reply(request, response, 503, 'not live\n');
    case '/readyz':
      return probe.ready()
        ? reply(request, response, 200, 'ready\n')
        : reply(request, response, 503, 'not ready\n');
    default:
      return reply(request, response, 404, 'not found\n');
  }
}

/** The path of an origin-form target ("/readyz?x=1"), or undefined when it is not one. */
function pathOf(target: string | undefined): string | undefined {
  if (target === undefined || !target.startsWith('/')) return undefined;
  try {
    return new URL(target, 'http://worker').pathname;
  } catch {
    return undefined;
  }
}

function reply(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain',
): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'content-type': type });
  response.end(request.method === 'HEAD' ? undefined : body);
}
