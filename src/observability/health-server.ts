import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthProbe {
  /** Liveness: the process works (not stopped, not wedged). */
  live(): boolean;
  /** Readiness: model loaded and group joined; Kubernetes routes nothing here, but KEDA and humans look. */
  ready(): boolean;
}

/** Serves /metrics (Prometheus), /healthz (liveness) and /readyz (readiness). */
export async function startHealthServer(
  port: number,
  registry: Registry,
  probe: HealthProbe,
): Promise<Server> {
  const server = createServer((request, response) => {
    const reply = (status: number, body: string, type = 'text/plain'): void => {
      response.writeHead(status, { 'content-type': type }).end(body);
    };
    switch (request.url) {
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
    server.listen(port, resolve);
  });
  return server;
}
