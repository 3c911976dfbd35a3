/**
 * `gearops worker`: the daemon on each host. Checks what it needs before
 * registering and says what is missing; SIGTERM/SIGINT stop it cleanly; SIGHUP
 * reads the policy file again. (Over 300 lines: its start-up checks are one list, read top to bottom, each
 * saying what to fix; the capabilities and the daemon it starts live in their own modules.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDotenvFile, parseConfig, type GearopsConfig } from '../config.js';
import { createLogger, createSilentLogger, type Logger } from '../log.js';
import { createReloadablePolicy, type ReloadablePolicy } from '../core/policy/reloadable.js';
import { loadPolicyFile } from '../core/policy/index.js';
import { INFO_ACTIONS, policyDigestOf } from '../core/worker-info.js';
import { PACKAGE_ROOT, VERSION } from '../package-info.js';
import { functionName, isValidHostName } from '../gearman/names.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../gearman/protocol.js';
import { requireAction, SANDBOX_ACTIONS, type Capability } from './capability.js';
import { createRunCapability } from './capabilities/run.js';
import { createInfoCapability } from './capabilities/info.js';
import { formatWorkerCheck, probeServers, stateDirProblem } from './check.js';
import { metricsPortProblem, startWorkerMetrics, type WorkerMetrics } from '../metrics/worker-metrics.js';
import { createWorkerDaemon } from './daemon.js';
import { resolveProgram } from './exec.js';
import { loadSandboxCapabilities } from './sandbox-loader.js';
import { createMysqlStatusCapability } from './capabilities/mysql-status.js';
import { createMysqlRepairCapability, createMysqlSqlCapability } from './capabilities/mysql-repair.js';
import { createMysqlControlCapability } from './capabilities/mysql-control.js';
import { loadCredentialsFile, type CredentialsDirectory } from '../credentials-file.js';

import { groupMarker } from './capabilities/group.js';
import { GROUP_NAME_RE } from '../core/targets.js';

const USAGE =
  'usage: gearops worker --host NAME --gearman HOST:PORT[,HOST:PORT…] [--policy FILE] [--sandbox-dir DIR] ' +
  '[--state-dir DIR] [--binaries-dir DIR] [--advertise ADDRESS] [--concurrency N] [--max-frame-bytes N] ' +
  '[--credentials-file FILE] [--groups NAME,NAME…] [--metrics-port [HOST:]PORT] [--check]';

/**
 * The worker's settings from the environment, through the same schema as the bot's: a bad value is one problem
 * naming the variable and its fix, and so is a missing job secret (the worker cannot verify a job without it).
 */
function workerConfig(env: NodeJS.ProcessEnv, problems: string[]): GearopsConfig | undefined {
  const take = (err: unknown) => {
    const listed = (err as { data?: { problems?: unknown } }).data?.problems;
    problems.push(...(Array.isArray(listed) ? listed.map(String) : [(err as Error).message]));
  };
  let config: GearopsConfig;
  try {
    config = parseConfig(env);
  } catch (err) {
    take(err);
    return undefined;
  }
  try {
    parseConfig(env, ['jobSecret']);
  } catch (err) {
    take(err);
  }
  return config;
}

/**
 * Entry point of `gearops worker`; resolves with the exit code once stopped. Over 80 lines for the reason this file gives: its start-up checks are one list, read top to bottom.
 */
export async function runWorkerCommand(
  argv: string[],
  deps: { env?: NodeJS.ProcessEnv; logger?: Logger; until?: Promise<unknown> } = {},
): Promise<number> {
  if (!deps.env) loadDotenvFile();
  const env = deps.env ?? process.env;
  const fail = (msg: string) => {
    process.stderr.write(`gearops worker: ${msg}\n`);
    return 2;
  };
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        gearman: { type: 'string' },
        policy: { type: 'string' },
        'sandbox-dir': { type: 'string' },
        'state-dir': { type: 'string' },
        'binaries-dir': { type: 'string' },
        advertise: { type: 'string' },
        concurrency: { type: 'string' },
        'credentials-file': { type: 'string' },
        'max-frame-bytes': { type: 'string' },
        groups: { type: 'string' },
        check: { type: 'boolean' },
        'metrics-port': { type: 'string' },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
  const problems: string[] = [];
  if (!v.host) problems.push('--host is missing: the name users type, e.g. --host db1');
  else if (!isValidHostName(v.host))
    problems.push(`--host ${v.host} is not a valid host name (letters, digits, . _ -)`);
  // `/run all …` means every live host: a host by that name could never be reached alone.
  else if (v.host === 'all')
    problems.push('--host all is reserved (`/run all` means every live host); pick another name');
  // The environment goes through the bot's own schema (src/config.ts); a flag stands for the variable it names.
  const merged: NodeJS.ProcessEnv = { ...env };
  if (v.gearman !== undefined) merged.GEAROPS_GEARMAN = v.gearman;
  if (v['max-frame-bytes'] !== undefined) merged.GEAROPS_MAX_FRAME_BYTES = v['max-frame-bytes'];
  if (v.policy) merged.GEAROPS_POLICY = v.policy;
  const config = workerConfig(merged, problems);
  // A worker has no default job server: it is told which ones, by flag or variable.
  if (!merged.GEAROPS_GEARMAN?.trim())
    problems.push('--gearman is missing (or set GEAROPS_GEARMAN): the job servers, host:port[,host:port…]');
  const servers = merged.GEAROPS_GEARMAN?.trim() ? (config?.gearman ?? []) : [];
  const secret = config?.jobSecret ?? '';
  const maxFrameBytes = config?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const concurrency = Number(v.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    problems.push('--concurrency must be a whole number from 1 to 64');
  const groups = (v.groups ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  for (const g of groups)
    if (!GROUP_NAME_RE.test(g)) problems.push(`--groups: ${g} is not a group name (lower-case letters, digits, _ -)`);
  const metricsProblem = v['metrics-port'] === undefined ? null : metricsPortProblem(v['metrics-port']);
  if (metricsProblem) problems.push(metricsProblem);
  // Without one given: ./policies/default.yml in a checkout, else the installed package's copy of it.
  const shipped = existsSync('policies/default.yml')
    ? 'policies/default.yml'
    : join(PACKAGE_ROOT, 'policies/default.yml');
  const policyFile = merged.GEAROPS_POLICY && config ? config.policyFile : shipped;
  // The digest of the file last loaded, for gearops.info: it changes when a SIGHUP loads another.
  let policyDigest = '';
  const loadDigested = (path: string) => {
    const loaded = loadPolicyFile(path);
    policyDigest = policyDigestOf(createHash('sha256').update(readFileSync(path)).digest('hex'));
    return loaded;
  };
  let reloadable: ReloadablePolicy | undefined;
  try {
    reloadable = createReloadablePolicy(policyFile, loadDigested);
  } catch (err) {
    problems.push((err as Error).message);
  }
  // Named MySQL credentials for mysql.status (servers on this host); refused unless only its owner can read it.
  let credentials: CredentialsDirectory | undefined;
  if (v['credentials-file'])
    try {
      credentials = loadCredentialsFile(v['credentials-file']);
    } catch (err) {
      problems.push((err as Error).message);
    }
  const policy = reloadable?.policy;
  const check = v.check === true;
  const host = v.host && isValidHostName(v.host) ? v.host : undefined;
  if (check && (!policy || !host)) {
    const report = { host: v.host, servers, policyFile, policyDigest: null, functions: [], notes: [] };
    const r = formatWorkerCheck({ ...report, missing: problems });
    process.stdout.write(`${r.text}\n`);
    return r.exitCode;
  }
  if (!check && (problems.length || !reloadable || !policy || !v.host))
    return fail(`cannot start:\n  - ${problems.join('\n  - ')}\n${USAGE}`);
  if (!policy || !v.host || !reloadable) return 2;

  const logger = check
    ? createSilentLogger()
    : (deps.logger ?? createLogger({ name: `gearops-worker-${v.host}`, level: config?.logLevel ?? 'info' }));
  const programs = policy.programs();
  const missing = programs.filter((p) => resolveProgram(p) === null);
  if (!check && missing.length === programs.length && programs.length > 0)
    return fail(
      `none of the programs the policy allows exist on this host (${missing.join(', ')}); install them or fix ${policyFile}`,
    );
  if (missing.length && !check)
    logger.warn(
      { event: 'preflight', missing },
      `programs named in ${policyFile} that this host lacks (commands using them will fail): ${missing.join(', ')}`,
    );

  const stateDir = v['state-dir'] ?? join(homedir(), '.gearops', 'state', v.host);
  const capabilities: Capability[] = [
    createRunCapability({ host: v.host, policy, logger }) as Capability,
    ...groups.map(groupMarker),
  ];
  const sandbox = await loadSandboxCapabilities({
    host: v.host,
    sandboxDir: v['sandbox-dir'] ?? join(homedir(), '.gearops', 'sandboxes'),
    binariesDir: v['binaries-dir'],
    advertise: v.advertise ?? '127.0.0.1',
    // Each install brings its cluster's passwords, sealed with the job secret; kept under the state dir.
    jobSecret: secret,
    stateDir,
    logger,
  });
  // Each sandbox job is checked against this worker's own policy too, as /run's command lines are.
  for (const cap of sandbox.capabilities) {
    const actions = SANDBOX_ACTIONS[cap.name];
    if (!actions) throw new Error(`sandbox capability ${cap.name} has no policy actions`);
    capabilities.push(
      requireAction(cap as Capability<{ undo?: unknown }>, { host: v.host, policy }, actions) as Capability,
    );
  }
  // Last, so that it can list everything registered, itself included.
  const info = createInfoCapability({
    version: VERSION,
    capabilities: () => capabilities.map((c) => c.name),
    policyDigest: () => policyDigest,
  });
  capabilities.push(requireAction(info, { host: v.host, policy }, () => [...INFO_ACTIONS]) as Capability);
  // The record of jobs taken (under stateDir) is kept across restarts: a worker back within a minute refuses a replay.
  if (check) {
    const functions = capabilities.map((c) => functionName(c.name, v.host!));
    const probed = await probeServers(servers, functions);
    const stateProblem = stateDirProblem(stateDir);
    const r = formatWorkerCheck({
      host: v.host,
      servers,
      policyFile,
      policyDigest,
      functions,
      missing: [
        ...problems,
        ...(missing.length ? [`programs ${policyFile} names that this host lacks: ${missing.join(', ')}`] : []),
        ...(stateProblem ? [stateProblem] : []),
        ...probed.missing,
      ],
      notes: [...sandbox.problems.map((p) => `sandbox capabilities not registered: ${p}`), ...probed.notes],
    });
    process.stdout.write(`${r.text}\n`);
    return r.exitCode;
  }
  if (sandbox.problems.length)
    logger.warn(
      { event: 'preflight', problems: sandbox.problems },
      `sandbox capabilities not registered: ${sandbox.problems.join('; ')}`,
    );

  // mysql.status reads this host's servers for the bot (status and discovery), as replica.status allows;
  // mysql.repair and mysql.sql are the buttons' fixed repairs and /replica sql, each behind its own action here;
  // mysql.control is a topology change's step, behind the action of the sequence it serves.
  if (credentials)
    capabilities.push(
      requireAction(createMysqlStatusCapability({ credentials, logger }), { host: v.host, policy }, () => [
        'replica.status',
      ]) as Capability,
      createMysqlRepairCapability({ host: v.host, policy, credentials, logger }) as Capability,
      createMysqlSqlCapability({ host: v.host, policy, credentials, logger }) as Capability,
      createMysqlControlCapability({ host: v.host, policy, credentials, logger }) as Capability,
    );
  // The record of jobs taken, kept across restarts so that a worker back within a minute refuses a replay.
  // --metrics-port: GET /metrics for Prometheus, fed by the daemon.
  let exporter: WorkerMetrics | null;
  try {
    exporter = v['metrics-port'] === undefined ? null : await startWorkerMetrics(v['metrics-port'], VERSION);
  } catch (err) {
    return fail(`cannot start: ${(err as Error).message}`);
  }
  const metrics = exporter?.metrics;
  let daemon;
  try {
    daemon = createWorkerDaemon({
      host: v.host,
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
    { event: 'starting', host: v.host, servers, functions: daemon.functions, policy: policyFile },
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
    deps.until ??
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
