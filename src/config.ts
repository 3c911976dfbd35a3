/**
 * Configuration: dotenv, then one zod schema. A bad or missing value stops
 * start-up with a message that names the variable and what to put there.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { ErrorCode, GearopsError } from './errors.js';
import { SLACK_RESPONSE_ORIGINS } from './chat/slack/requests.js';

/** Each variable: what it is for and what to put there (the README's configuration table follows this). */
export const VARIABLES = {
  SLACK_BOT_TOKEN: "the bot token (xoxb-…) from the Slack app's OAuth & Permissions page",
  SLACK_APP_TOKEN: 'an app-level token (xapp-…) with connections:write, for Socket Mode; leave unset for HTTP mode',
  SLACK_SIGNING_SECRET: "the signing secret from the Slack app's Basic Information page (HTTP mode)",
  SLACK_API_URL: 'the Web API base URL, e.g. https://slack.com/api/',
  SLACK_RESPONSE_ORIGINS:
    'the only origins the bot posts response_urls to, comma-separated (default https://hooks.slack.com,https://hooks.slack-gov.com)',
  PORT: 'the HTTP port for /slack/events and /healthz, e.g. 3000',
  GEAROPS_GEARMAN: 'job servers as host:port[,host:port…], e.g. 127.0.0.1:4730',
  GEAROPS_JOB_SECRET:
    'a shared secret of at least 16 characters, the same for the bot and every worker: `openssl rand -hex 32`',
  GEAROPS_MYSQL_URL: 'the store, mysql://user:password@host:3306/common',
  GEAROPS_POLICY: 'the policy file, e.g. policies/default.yml',
  GEAROPS_ALERT_CHANNEL: 'the channel id (C…) for broken-replica alerts',
  GEAROPS_POOL_CHANNEL: 'the channel id (C…) for load-balancer pool changes',
  GEAROPS_MONITOR_INTERVAL_MS: 'how often the monitor polls every node, in milliseconds (e.g. 2000)',
  GEAROPS_LAG_THRESHOLD_S: 'seconds behind the master that count as lag (e.g. 30)',
  GEAROPS_LAG_STEP_S:
    "seconds an open lag alert's lag must grow or shrink by before its thread says so, a whole number from 1 to 86400 (default 5, or half the threshold when that is more)",
  GEAROPS_USER_RATE: 'commands one user may run per minute (e.g. 20)',
  GEAROPS_HOST_CONCURRENCY: 'jobs that may run at once on one host; more wait in line (e.g. 4)',
  GEAROPS_FANOUT:
    'host jobs one /run over many hosts keeps running at once, a whole number from 1 to 1024 (default 64)',
  GEAROPS_GROUPS_TTL_S:
    "seconds a Slack user group's member list is trusted before it is looked up again, a whole number from 10 to 86400 (default 300); only used when the policy's roles list groups",
  GEAROPS_CREDENTIALS_FILE:
    'a YAML file of named MySQL credentials for watched clusters (name: { user, password } or { defaults_file }), mode 0600',
  GEAROPS_SQL_TIMEOUT_S:
    'seconds a /replica sql statement may run before it is ended on the server (KILL QUERY), 1 to 3600 (default 30)',
  GEAROPS_SQL_PER_USER: '/replica sql statements one user may have running at once, 1 to 100 (default 2)',
  GEAROPS_SQL_PER_CLUSTER: '/replica sql statements that may run at once on one cluster, 1 to 100 (default 4)',
  GEAROPS_STATE_DIR:
    "a folder only the bot's user can read, where it keeps each cluster's passwords (default ~/.gearops/bot)",
  GEAROPS_SANDBOX_DEMO_CREDENTIALS:
    '1 to give sandboxes on a loopback address the well-known msandbox/msandbox accounts (the demo), or 0 (default): every cluster gets its own random passwords',
  GEAROPS_SHUTDOWN_GRACE_S:
    'seconds the bot lets running commands finish after SIGTERM before it hands the rest over and exits, 1 to 3600 (default 20)',
  GEAROPS_LOG_LEVEL: 'trace, debug, info, warn, error or silent',
  GEAROPS_MAX_FRAME_BYTES:
    'the largest Gearman frame read from a job server, in bytes, from 65536 to 268435456 (default 8388608); ' +
    'a result must fit: keep it above 6 × the largest max_output_bytes',
} as const;

/** Names of the variables gearops reads. */
export type VariableName = keyof typeof VARIABLES;

const hostPort = /^[A-Za-z0-9._-]+:\d{1,5}$/;
const gearmanList = z
  .string()
  .trim()
  .min(1)
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .refine(
    (l) =>
      l.length > 0 &&
      l.every((x) => hostPort.test(x) && Number(x.split(':')[1]) > 0 && Number(x.split(':')[1]) < 65536),
    'expected host:port[,host:port…]',
  );
const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const channelId = z
  .string()
  .trim()
  .regex(/^[CGD][A-Z0-9]{2,}$/, 'expected a channel id such as C0123456789');
const originList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .refine((l) => l.length > 0 && l.every(isOrigin), 'expected origins such as https://hooks.slack.com, comma-separated')
  .transform((l) => l.map((x) => new URL(x).origin));
const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const schema = z.object({
  SLACK_BOT_TOKEN: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^xoxb-/, 'expected a bot token starting with xoxb-')
      .optional(),
  ),
  SLACK_APP_TOKEN: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^xapp-/, 'expected an app-level token starting with xapp-')
      .optional(),
  ),
  SLACK_SIGNING_SECRET: z.preprocess(emptyToUndefined, z.string().min(8).optional()),
  SLACK_API_URL: z.preprocess(emptyToUndefined, z.string().url().default('https://slack.com/api/')),
  SLACK_RESPONSE_ORIGINS: z.preprocess(emptyToUndefined, originList.default([...SLACK_RESPONSE_ORIGINS])),
  PORT: z.preprocess(emptyToUndefined, intIn(0, 65535).default(3000)),
  GEAROPS_GEARMAN: z.preprocess(emptyToUndefined, gearmanList.default(['127.0.0.1:4730'])),
  GEAROPS_JOB_SECRET: z.preprocess(emptyToUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  GEAROPS_MYSQL_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^mysql:\/\/[^/]+\/[A-Za-z0-9_]+/, 'expected mysql://user:password@host:port/database')
      .optional(),
  ),
  GEAROPS_POLICY: z.preprocess(emptyToUndefined, z.string().default('policies/default.yml')),
  GEAROPS_ALERT_CHANNEL: z.preprocess(emptyToUndefined, channelId.optional()),
  GEAROPS_POOL_CHANNEL: z.preprocess(emptyToUndefined, channelId.optional()),
  GEAROPS_MONITOR_INTERVAL_MS: z.preprocess(emptyToUndefined, intIn(100, 3_600_000).default(2000)),
  GEAROPS_LAG_THRESHOLD_S: z.preprocess(emptyToUndefined, intIn(1, 86_400).default(30)),
  GEAROPS_LAG_STEP_S: z.preprocess(emptyToUndefined, intIn(1, 86_400).optional()),
  GEAROPS_USER_RATE: z.preprocess(emptyToUndefined, intIn(1, 10_000).default(20)),
  GEAROPS_HOST_CONCURRENCY: z.preprocess(emptyToUndefined, intIn(1, 1000).default(4)),
  GEAROPS_FANOUT: z.preprocess(emptyToUndefined, intIn(1, 1024).default(64)),
  GEAROPS_GROUPS_TTL_S: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of seconds' })
      .int('expected a whole number of seconds')
      .min(10, 'must be at least 10 seconds (each group is looked up again at most every TTL/2)')
      .max(
        86_400,
        'must be at most 86400 seconds (a day): a removed member keeps group roles up to 3×TTL while Slack is unreachable',
      )
      .default(300),
  ),
  GEAROPS_CREDENTIALS_FILE: z.preprocess(emptyToUndefined, z.string().min(1).optional()),
  GEAROPS_SQL_TIMEOUT_S: z.preprocess(emptyToUndefined, intIn(1, 3600).default(30)),
  GEAROPS_SQL_PER_USER: z.preprocess(emptyToUndefined, intIn(1, 100).default(2)),
  GEAROPS_SQL_PER_CLUSTER: z.preprocess(emptyToUndefined, intIn(1, 100).default(4)),
  GEAROPS_STATE_DIR: z.preprocess(emptyToUndefined, z.string().default(join(homedir(), '.gearops', 'bot'))),
  GEAROPS_SANDBOX_DEMO_CREDENTIALS: z.preprocess(
    emptyToUndefined,
    z
      .enum(['0', '1', 'true', 'false'], { error: 'expected 1 or 0' })
      .default('0')
      .transform((v) => v === '1' || v === 'true'),
  ),
  GEAROPS_SHUTDOWN_GRACE_S: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of seconds' })
      .int('expected a whole number of seconds')
      .min(1, 'must be at least 1 second')
      .max(3600, 'must be at most 3600 seconds: a process manager stops waiting long before that')
      .default(20),
  ),
  GEAROPS_LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  ),
  GEAROPS_MAX_FRAME_BYTES: z.preprocess(emptyToUndefined, intIn(64 * 1024, 256 * 1024 * 1024).default(8 * 1024 * 1024)),
});

/** The validated configuration. */
export interface GearopsConfig {
  slack: {
    botToken?: string;
    appToken?: string;
    signingSecret?: string;
    apiUrl: string;
    port: number;
    /** Origins response_urls may be on (Slack's hooks hosts unless set for tests). */
    responseOrigins: string[];
  };
  gearman: string[];
  jobSecret?: string;
  mysqlUrl?: string;
  policyFile: string;
  alertChannel?: string;
  poolChannel?: string;
  monitorIntervalMs: number;
  lagThresholdS: number;
  /** Seconds a lag alert's lag must change by before its thread says so (unset: the monitor's default). */
  lagStepS?: number;
  userRatePerMinute: number;
  hostConcurrency: number;
  /** Host jobs one fan-out `/run` keeps in flight at once (dsh and clush use 64 too). */
  fanout: number;
  /** Seconds a user group's member list is fresh (stale lists serve up to 3× this while Slack fails). */
  groupsTtlS: number;
  /** GEAROPS_CREDENTIALS_FILE: named credentials for watched clusters (owner-only). */
  credentialsFile?: string;
  /** /replica sql: statements at once per user and per cluster, and each one's time-out (KILL QUERY). */
  sql: { perUser: number; perCluster: number; timeoutMs: number };
  /** Where the bot keeps its own state: each cluster's passwords (0600 files). */
  stateDir: string;
  /** Sandboxes on loopback addresses get the well-known demo accounts instead of random passwords. */
  sandboxDemoCredentials: boolean;
  /** Seconds running commands get after SIGTERM before the bot hands them over and exits. */
  shutdownGraceS: number;
  logLevel: string;
  /** The largest Gearman frame read; a job server sending a bigger one is disconnected. */
  maxFrameBytes: number;
}

/** What a command needs of the configuration; checked on top of the schema. */
export type Requirement = 'slack' | 'jobSecret' | 'mysql';

/** Reads `.env` (if present) into process.env without overriding what is already set. */
export function loadDotenvFile(path?: string): void {
  loadDotenv({ path: path ?? '.env', quiet: true });
}

/** Validates the environment; throws GearopsError(gearops_config) naming every bad variable and its fix. */
export function parseConfig(env: NodeJS.ProcessEnv, require: Requirement[] = []): GearopsConfig {
  const parsed = schema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]) as VariableName;
      problems.push(`${name}: ${issue.message} — set it to ${VARIABLES[name] ?? 'a valid value'}`);
    }
    throw configError(problems);
  }
  const e = parsed.data;
  const missing = (name: VariableName) => problems.push(`${name} is not set — set it to ${VARIABLES[name]}`);
  if (require.includes('slack')) {
    if (!e.SLACK_BOT_TOKEN) missing('SLACK_BOT_TOKEN');
    if (!e.SLACK_APP_TOKEN && !e.SLACK_SIGNING_SECRET)
      problems.push(
        `SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is not set — set SLACK_APP_TOKEN to ${VARIABLES.SLACK_APP_TOKEN}, or SLACK_SIGNING_SECRET to ${VARIABLES.SLACK_SIGNING_SECRET}`,
      );
  }
  if (require.includes('jobSecret') && !e.GEAROPS_JOB_SECRET) missing('GEAROPS_JOB_SECRET');
  if (require.includes('mysql') && !e.GEAROPS_MYSQL_URL)
    problems.push(
      `GEAROPS_MYSQL_URL is not set — the bot keeps its audit trail, clusters, incidents and pool there; set it to ${VARIABLES.GEAROPS_MYSQL_URL}`,
    );
  if (problems.length > 0) throw configError(problems);
  return {
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      appToken: e.SLACK_APP_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      apiUrl: e.SLACK_API_URL,
      port: e.PORT,
      responseOrigins: e.SLACK_RESPONSE_ORIGINS,
    },
    gearman: e.GEAROPS_GEARMAN,
    jobSecret: e.GEAROPS_JOB_SECRET,
    mysqlUrl: e.GEAROPS_MYSQL_URL,
    policyFile: e.GEAROPS_POLICY,
    alertChannel: e.GEAROPS_ALERT_CHANNEL,
    poolChannel: e.GEAROPS_POOL_CHANNEL,
    monitorIntervalMs: e.GEAROPS_MONITOR_INTERVAL_MS,
    lagThresholdS: e.GEAROPS_LAG_THRESHOLD_S,
    lagStepS: e.GEAROPS_LAG_STEP_S,
    userRatePerMinute: e.GEAROPS_USER_RATE,
    hostConcurrency: e.GEAROPS_HOST_CONCURRENCY,
    fanout: e.GEAROPS_FANOUT,
    groupsTtlS: e.GEAROPS_GROUPS_TTL_S,
    credentialsFile: e.GEAROPS_CREDENTIALS_FILE,
    sql: {
      perUser: e.GEAROPS_SQL_PER_USER,
      perCluster: e.GEAROPS_SQL_PER_CLUSTER,
      timeoutMs: e.GEAROPS_SQL_TIMEOUT_S * 1000,
    },
    stateDir: e.GEAROPS_STATE_DIR,
    sandboxDemoCredentials: e.GEAROPS_SANDBOX_DEMO_CREDENTIALS,
    shutdownGraceS: e.GEAROPS_SHUTDOWN_GRACE_S,
    logLevel: e.GEAROPS_LOG_LEVEL,
    maxFrameBytes: e.GEAROPS_MAX_FRAME_BYTES,
  };
}

function configError(problems: string[]): GearopsError {
  return new GearopsError(ErrorCode.Config, `configuration is not valid:\n  - ${problems.join('\n  - ')}`, {
    data: { problems },
  });
}

/** An origin: scheme, host and optional port, nothing after (https://hooks.slack.com). */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s.replace(/\/$/, '');
  } catch {
    return false;
  }
}
