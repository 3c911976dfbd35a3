/**
 * What `gearops worker` runs once its start-up checks passed (src/worker/cli.ts): the capabilities it registers,
 * each behind this host's own policy, and the daemon serving them until SIGTERM/SIGINT, SIGHUP reloading the policy.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Logger } from '../log.js';
import { type ReloadablePolicy } from '../core/policy/reloadable.js';
import type { Policy } from '../core/ports/policy.js';
import { INFO_ACTIONS } from '../core/worker-info.js';
import { VERSION } from '../package-info.js';
import { requireAction, SANDBOX_ACTIONS, type Capability } from './capability.js';
import { createRunCapability } from './capabilities/run.js';
import { createInfoCapability } from './capabilities/info.js';
import { startWorkerMetrics, type WorkerMetrics } from '../metrics/worker-metrics.js';
import { createWorkerDaemon } from './daemon.js';
import { resolveProgram } from './exec.js';
import { loadSandboxCapabilities } from './sandbox-loader.js';
import { createMysqlStatusCapability } from './capabilities/mysql-status.js';
import { createMysqlRepairCapability, createMysqlSqlCapability } from './capabilities/mysql-repair.js';
import { createMysqlControlCapability } from './capabilities/mysql-control.js';
import { type CredentialsDirectory } from '../credentials-file.js';

import { groupMarker } from './capabilities/group.js';
/**
 * What this worker registers: run, its groups' markers, the sandbox capabilities (each behind its policy actions
 * here), and gearops.info last, so that it lists everything, itself included.
 */
export async function assembleCapabilities(o: {
  host: string;
  v: { 'sandbox-dir'?: string; 'binaries-dir'?: string; advertise?: string };
  policy: Policy;
  logger: Logger;
  groups: string[];
  secret: string;
  stateDir: string;
  policyDigest: () => string;
}) {
  const capabilities: Capability[] = [
    createRunCapability({ host: o.host, policy: o.policy, logger: o.logger }) as Capability,
    ...o.groups.map(groupMarker),
  ];
  const sandbox = await loadSandboxCapabilities({
    host: o.host,
    sandboxDir: o.v['sandbox-dir'] ?? join(homedir(), '.gearops', 'sandboxes'),
    binariesDir: o.v['binaries-dir'],
    advertise: o.v.advertise ?? '127.0.0.1',
    // Each install brings its cluster's passwords, sealed with the job secret; kept under the state dir.
    jobSecret: o.secret,
    stateDir: o.stateDir,
    logger: o.logger,
  });
  // Each sandbox job is checked against this worker's own policy too, as /run's command lines are.
  for (const cap of sandbox.capabilities) {
    const actions = SANDBOX_ACTIONS[cap.name];
    if (!actions) throw new Error(`sandbox capability ${cap.name} has no policy actions`);
    capabilities.push(
      requireAction(cap as Capability<{ undo?: unknown }>, { host: o.host, policy: o.policy }, actions) as Capability,
    );
  }
  // Last, so that it can list everything registered, itself included.
  const info = createInfoCapability({
    version: VERSION,
    capabilities: () => capabilities.map((c) => c.name),
    policyDigest: o.policyDigest,
  });
  capabilities.push(requireAction(info, { host: o.host, policy: o.policy }, () => [...INFO_ACTIONS]) as Capability);
  return { capabilities, sandbox };
}

/** Starts the daemon (and --metrics-port's exporter), serves until SIGTERM/SIGINT, SIGHUP reloading the policy. */
export async function serve(o: {
  host: string;
  metricsPort: string | undefined;
  servers: string[];
  secret: string;
  logger: Logger;
  capabilities: Capability[];
  concurrency: number;
  stateDir: string;
  maxFrameBytes: number;
  policy: Policy;
  reloadable: ReloadablePolicy;
  policyFile: string;
  until: Promise<unknown> | undefined;
  fail: (msg: string) => number;
}): Promise<number> {
  const { servers, secret, logger, capabilities, concurrency, stateDir, maxFrameBytes, policy, reloadable } = o;
  const { policyFile, fail } = o;
  // The record of jobs taken, kept across restarts so that a worker back within a minute refuses a replay.
  // --metrics-port: GET /metrics for Prometheus, fed by the daemon.
  let exporter: WorkerMetrics | null;
  try {
    exporter = o.metricsPort === undefined ? null : await startWorkerMetrics(o.metricsPort, VERSION);
  } catch (err) {
    return fail(`cannot start: ${(err as Error).message}`);
  }
  const metrics = exporter?.metrics;
  let daemon;
  try {
    daemon = createWorkerDaemon({
      host: o.host,
      servers,
      secret,
      logger,
      capabilities,
      concurrency,
      stateDir,
      maxFrameBytes,
      metrics,
    });
  } catch (err) {
    await exporter?.close();
    return fail(
      `cannot start: --state-dir ${stateDir} is not usable (${(err as Error).message}); give a folder this user can write`,
    );
  }
  logger.info(
    { event: 'starting', host: o.host, servers, functions: daemon.functions, policy: policyFile },
    'worker starting',
  );
  if (exporter) logger.info({ event: 'metrics_listening', port: exporter.port }, `GET /metrics on ${exporter.port}`);
  daemon.gearman.on('registered', (server: string) => {
    metrics?.gearmanConnection('worker', server, true);
    logger.info(
      { event: 'worker_registered', server, functions: daemon.functions },
      `registered ${daemon.functions.join(', ')} on ${server}`,
    );
  });
  daemon.gearman.on('disconnected', (server: string) => metrics?.gearmanConnection('worker', server, false));
  // SIGHUP: read the policy file again; every later job is checked against the new rules.
  const reload = () => {
    try {
      reloadable.reload();
      const lacking = policy.programs().filter((p) => resolveProgram(p) === null);
      logger.info(
        { event: 'policy_reloaded', file: policyFile, missing: lacking },
        `policy reloaded from ${policyFile}${lacking.length ? ` (this host lacks: ${lacking.join(', ')})` : ''}`,
      );
    } catch (err) {
      logger.error(
        { event: 'policy_reload_failed', err: (err as Error).message },
        `policy reload failed, the previous rules stay in force: ${(err as Error).message}`,
      );
    }
  };
  process.on('SIGHUP', reload);
  const stopSignal =
    o.until ??
    new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
  void daemon.start();
  await stopSignal;
  logger.info({ event: 'stopping', busy: daemon.gearman.busy }, 'stopping: no new jobs; finishing running ones');
  await daemon.stop({ graceMs: 10_000 });
  process.removeListener('SIGHUP', reload);
  await exporter?.close();
  logger.info({ event: 'stopped' }, 'worker stopped');
  return 0;
}

/**
 * The capabilities over this host's MySQL servers, registered only with a credentials file: mysql.status reads them
 * for the bot (status and discovery), as replica.status allows; mysql.repair and mysql.sql are the buttons' fixed
 * repairs and /replica sql, each behind its own action here; mysql.control is a topology change's step, behind
 * the action of the sequence it serves.
 */
export function mysqlCapabilities(o: {
  host: string;
  policy: Policy;
  credentials: CredentialsDirectory;
  logger: Logger;
}): Capability[] {
  const { host, policy, credentials, logger } = o;
  return [
    requireAction(createMysqlStatusCapability({ credentials, logger }), { host, policy }, () => [
      'replica.status',
    ]) as Capability,
    createMysqlRepairCapability({ host, policy, credentials, logger }) as Capability,
    createMysqlSqlCapability({ host, policy, credentials, logger }) as Capability,
    createMysqlControlCapability({ host, policy, credentials, logger }) as Capability,
  ];
}
