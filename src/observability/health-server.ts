import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthProbe {
  /** Liveness: the process works (not stopped, not wedged); Kubernetes restarts it otherwise. */
  live(): boolean;
  /** Readiness: joined, no model fault holding intake, not stalled; alerts and humans look. */
  ready(): boolean;
}

/**
 * Serves /metrics (Prometheus), /healthz (liveness) and /readyz (readiness) on `host`:`port`.
 * Routes by the URL's path, so a query string is ignored; HEAD answers like GET without a body.
 */
export async function startHealthServer(
  host: string,
  port: number,
  registry: Registry,
  probe: HealthProbe,
): Promise<Server> {
  const server = createServer((request, response) => {
    const reply = (status: number, body: string, type = 'text/plain'): void => {
      response.writeHead(status, { 'content-type': type });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply(405, 'method not allowed\n');
      return;
    }
    switch (new URL(request.url ?? '/', 'http://worker').pathname) {
      case '/metrics':
        registry.metrics().then(
          (text) => reply(200, text, registry.contentType),
          (error: Error) => reply(500, error.message),
        );
        return;
      case '/healthz':
        return probe.live() ? reply(200, 'ok\n') : reply(503, 'not live\n');
      case '/readyz':
        return probe.ready() ? reply(200, 'ready\n') : reply(503, 'not ready\n');
      default:
        return reply(404, 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
