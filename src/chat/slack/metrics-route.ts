/** GET /metrics beside /healthz on the bot's port: Prometheus text from whatever the bot was given. */
import type { ServerResponse } from 'node:http';

/** A Bolt custom route serving `text()`; a failure answers 500 and is not retried. */
export function metricsRoute(text: () => Promise<{ contentType: string; body: string }>) {
  return {
    path: '/metrics',
    method: ['GET'],
    handler: (_req: unknown, res: ServerResponse) => {
      void text().then(
        (m) => {
          res.writeHead(200, { 'content-type': m.contentType });
          res.end(m.body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${err.message}\n`);
        },
      );
    },
  };
}
