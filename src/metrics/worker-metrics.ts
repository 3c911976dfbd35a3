/** The worker's `--metrics-port`: its metrics and the endpoint serving them. */
import { createPrometheusMetrics, type PrometheusMetrics } from './prometheus.js';
import { parseListen, startMetricsServer } from './server.js';

/** Metrics served at GET /metrics. */
export interface WorkerMetrics {
  metrics: PrometheusMetrics;
  port: number;
  close(): Promise<void>;
}

/** What is wrong with a --metrics-port value, or null when it is usable. */
export function metricsPortProblem(spec: string): string | null {
  return parseListen(spec) ? null : `--metrics-port ${spec} is not PORT or HOST:PORT (e.g. --metrics-port 9464)`;
}

/** Starts the endpoint on `spec` (PORT or HOST:PORT); rejects with a message naming the flag. */
export async function startWorkerMetrics(spec: string, version: string): Promise<WorkerMetrics> {
  const listen = parseListen(spec);
  if (!listen) throw new Error(metricsPortProblem(spec)!);
  const metrics = createPrometheusMetrics({ role: 'worker', version });
  try {
    const server = await startMetricsServer({ ...listen, contentType: metrics.contentType, render: metrics.render });
    return { metrics, port: server.port, close: () => server.close() };
  } catch (err) {
    throw new Error(`--metrics-port ${spec}: ${(err as Error).message}`, { cause: err });
  }
}
