/**
 * `gearops worker`: the daemon on each host. Checks what it needs before
 * registering and says what is missing; SIGTERM/SIGINT stop it cleanly; SIGHUP
 * reads the policy file again. What it registers and how it serves live in serve.ts.
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
import { policyDigestOf } from '../core/worker-info.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { functionName, isValidHostName } from '../gearman/names.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../gearman/protocol.js';
import { formatWorkerCheck, probeServers, stateDirProblem } from './check.js';
import { metricsPortProblem } from '../metrics/worker-metrics.js';
import { resolveProgram } from './exec.js';
import { loadCredentialsFile, type CredentialsDirectory } from '../credentials-file.js';

import { assembleCapabilities, mysqlCapabilities, serve } from './serve.js';
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
 * Entry point of `gearops worker`; resolves with the exit code once stopped: flags, checks, capabilities, serve.
 * About 90 lines: the start-up sequence in order, each step's refusal written beside it.
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
  let v: WorkerArgs;
  try {
    v = parseWorkerArgs(argv);
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
  const { problems, merged, config, servers, secret, maxFrameBytes, concurrency, groups } = checkFlags(v, env);
  const { policyFile, reloadable, credentials, digest } = loadPolicyAndCredentials(v, merged, config, problems);
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
  const { capabilities, sandbox } = await assembleCapabilities({
    host: v.host,
    v,
    policy,
    logger,
    groups,
    secret,
    stateDir,
    policyDigest: digest,
  });
  // The record of jobs taken (under stateDir) is kept across restarts: a worker back within a minute refuses a replay.
  if (check)
    return checkReport({
      host: v.host,
      servers,
      policyFile,
      policyDigest: digest(),
      functions: capabilities.map((c) => functionName(c.name, v.host!)),
      problems,
      missing,
      stateDir,
      sandboxProblems: sandbox.problems,
    });
  if (sandbox.problems.length)
    logger.warn(
      { event: 'preflight', problems: sandbox.problems },
      `sandbox capabilities not registered: ${sandbox.problems.join('; ')}`,
    );

  if (credentials) capabilities.push(...mysqlCapabilities({ host: v.host, policy, credentials, logger }));
  return serve({
    host: v.host,
    metricsPort: v['metrics-port'],
    servers,
    secret,
    logger,
    capabilities,
    concurrency,
    stateDir,
    maxFrameBytes,
    policy,
    reloadable,
    policyFile,
    until: deps.until,
    fail,
  });
}

/** The worker's flags; throws on an unknown one. */
function parseWorkerArgs(argv: string[]) {
  return parseArgs({
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
}
type WorkerArgs = ReturnType<typeof parseWorkerArgs>;

/** The flags and the environment (through the bot's own schema, src/config.ts), each problem said with its fix. */
function checkFlags(v: WorkerArgs, env: NodeJS.ProcessEnv) {
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
  return { problems, merged, config, servers, secret, maxFrameBytes, concurrency, groups };
}

/**
 * The policy (reloadable; its digest, for gearops.info, changes when a SIGHUP loads another file) and the
 * credentials file; what fails to load is added to `problems`.
 */
function loadPolicyAndCredentials(
  v: WorkerArgs,
  merged: NodeJS.ProcessEnv,
  config: GearopsConfig | undefined,
  problems: string[],
) {
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
  return { policyFile, reloadable, credentials, digest: () => policyDigest };
}

/** `--check`: what this worker would register, where, and what is missing; exit code 0 only when nothing is. */
async function checkReport(o: {
  host: string;
  servers: string[];
  policyFile: string;
  policyDigest: string;
  functions: string[];
  problems: string[];
  missing: string[];
  stateDir: string;
  sandboxProblems: string[];
}): Promise<number> {
  const probed = await probeServers(o.servers, o.functions);
  const stateProblem = stateDirProblem(o.stateDir);
  const r = formatWorkerCheck({
    host: o.host,
    servers: o.servers,
    policyFile: o.policyFile,
    policyDigest: o.policyDigest,
    functions: o.functions,
    missing: [
      ...o.problems,
      ...(o.missing.length ? [`programs ${o.policyFile} names that this host lacks: ${o.missing.join(', ')}`] : []),
      ...(stateProblem ? [stateProblem] : []),
      ...probed.missing,
    ],
    notes: [...o.sandboxProblems.map((p) => `sandbox capabilities not registered: ${p}`), ...probed.notes],
  });
  process.stdout.write(`${r.text}\n`);
  return r.exitCode;
}
