/** A small HTTP server for GET /metrics (the worker's `--metrics-port`); anything else is 404. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on (the one asked for, or the one picked for 0). */
  port: number;
  close(): Promise<void>;
}

/** Parses `PORT` or `HOST:PORT` (PORT alone listens on every interface: Prometheus scrapes from elsewhere). */
export function parseListen(spec: string): { host: string; port: number } | null {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(spec.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { host: (m[1] ?? '0.0.0.0').replace(/^\[|\]$/g, ''), port };
}

/** Serves `render()` at /metrics on `host:port`; resolves once listening. */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  contentType: string;
  render: () => Promise<string>;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: GET /metrics\n');
      return;
    }
    opts.render().then(
      (body) => {
        res.writeHead(200, { 'content-type': opts.contentType });
        res.end(body);
      },
      (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${err.message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
