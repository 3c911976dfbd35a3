/**
 * The Metrics port on prom-client (the only module that imports it), with a registry of its own per process
 * (no global state: tests run several bots in one process). Names are `gearops_*`; the README lists them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metrics } from '../core/ports/metrics.js';

/** Open incidents as the store has them, read at each scrape (every bot instance then reports the same). */
export type OpenIncidentSource = () => Promise<Array<{ cluster: string; fault: string }>>;

/** Metrics on prom-client, plus what an HTTP endpoint needs to serve them. */
export interface PrometheusMetrics extends Metrics {
  /** The text exposition of every metric. */
  render(): Promise<string>;
  /** The Content-Type of `render()`'s text. */
  readonly contentType: string;
  /** Open incidents are read from here at each scrape (the bot sets it once the store is open). */
  setOpenIncidentSource(source: OpenIncidentSource | null): void;
}

/** Distinct hosts kept as label values; more (a mistyped host each time) fold into `other`. */
const MAX_HOSTS = 500;

/**
 * Creates the metrics of one process: `bot` or `worker` (set as the `gearops_role` label of gearops_info). Over 80 lines as a factory: one declaration per metric, then the short methods that set them.
 */
export function createPrometheusMetrics(opts: { role: 'bot' | 'worker'; version: string }): PrometheusMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gearops_process_' });
  const seenHosts = new Set<string>();
  const hostLabel = (host: string) => {
    if (seenHosts.has(host)) return host;
    if (seenHosts.size >= MAX_HOSTS) return 'other';
    seenHosts.add(host);
    return host;
  };
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    new Counter({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
    new Gauge({ name, help, labelNames, registers });
  gauge('gearops_info', 'Always 1; labels say which gearops runs here', ['version', 'role']).set(
    { version: opts.version, role: opts.role },
    1,
  );
  const submitted = counter(
    'gearops_jobs_submitted_total',
    'Jobs handed to the dispatcher (bot) or taken (worker), by capability and host',
    ['capability', 'host'],
  );
  const finished = counter(
    'gearops_jobs_finished_total',
    'Jobs that ended, by capability, host and outcome (completed: a verified ok result; failed: anything else)',
    ['capability', 'host', 'outcome'],
  );
  const latency = new Histogram({
    name: 'gearops_job_duration_seconds',
    help: 'From submission to the verified result (bot) or from start to the signed result (worker)',
    labelNames: ['capability', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const commands = counter(
    'gearops_commands_total',
    'Slash commands and buttons, by command name and decision (ok, denied, failed, refused, usage, …)',
    ['command', 'decision'],
  );
  const slackCalls = counter(
    'gearops_slack_api_calls_total',
    'Slack Web API attempts by method and outcome (ok, ratelimited, error)',
    ['method', 'outcome'],
  );
  const slack429 = counter(
    'gearops_slack_api_ratelimited_total',
    'Slack Web API attempts answered with 429, by method',
    ['method'],
  );
  const poll = new Histogram({
    name: 'gearops_monitor_poll_duration_seconds',
    help: 'One replication monitor poll cycle over every node of every cluster',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const gearmanUp = gauge(
    'gearops_gearmand_connection_up',
    '1 while the connection to this job server is up, 0 after it went down',
    ['role', 'server'],
  );
  const gearmanDown = counter('gearops_gearmand_disconnects_total', 'Connections to a job server that went down', [
    'role',
    'server',
  ]);
  const refused = counter(
    'gearops_jobs_refused_total',
    'Jobs the worker refused, running nothing: bad_signature, stale, replay, wrong_host, policy, other',
    ['reason'],
  );
  const connected = new Set<string>();
  let incidents: OpenIncidentSource | null = null;
  // Read from the store at scrape time: the count is the store's, whichever bot instance monitors.
  new Gauge({
    name: 'gearops_open_incidents',
    help: 'Open replication incidents by cluster and fault (from the store at each scrape)',
    labelNames: ['cluster', 'fault'],
    registers,
    async collect() {
      if (!incidents) return;
      const open = await incidents().catch(() => null);
      // The store not answering keeps the last values rather than reporting every incident closed.
      if (!open) return;
      this.reset();
      for (const i of open) this.inc({ cluster: i.cluster, fault: i.fault });
    },
  });
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    setOpenIncidentSource(source) {
      incidents = source;
    },
    jobSubmitted(capability, host) {
      submitted.inc({ capability, host: hostLabel(host) });
    },
    jobFinished(capability, host, outcome, seconds) {
      finished.inc({ capability, host: hostLabel(host), outcome });
      latency.observe({ capability, outcome }, seconds);
    },
    command(name, decision) {
      commands.inc({ command: name, decision });
    },
    slackCall(method, outcome) {
      slackCalls.inc({ method, outcome });
      if (outcome === 'ratelimited') slack429.inc({ method });
    },
    monitorPoll(seconds) {
      poll.observe(seconds);
    },
    gearmanConnection(role, server, up) {
      // A failed reconnect attempt closes again: only the fall from up counts as a disconnect.
      const key = `${role} ${server}`;
      if (!up && connected.has(key)) gearmanDown.inc({ role, server });
      if (up) connected.add(key);
      else connected.delete(key);
      gearmanUp.set({ role, server }, up ? 1 : 0);
    },
    jobRefused(reason) {
      refused.inc({ reason });
    },
  };
}
