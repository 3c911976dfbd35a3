/**
 * Configuration: dotenv, then one zod schema. A bad or missing value stops
 * start-up with a message that names the variable and what to put there.
 */
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
  GEAROPS_USER_RATE: 'commands one user may run per minute (e.g. 20)',
  GEAROPS_HOST_CONCURRENCY: 'jobs that may run at once on one host; more wait in line (e.g. 4)',
  GEAROPS_GROUPS_TTL_S:
    "seconds a Slack user group's member list is trusted before it is looked up again, a whole number from 10 to 86400 (default 300); only used when the policy's roles list groups",
  GEAROPS_SANDBOX_USER: 'the sandbox admin user (default msandbox)',
  GEAROPS_SANDBOX_PASSWORD: 'the sandbox admin password (default msandbox)',
  GEAROPS_SHUTDOWN_GRACE_S:
    'seconds the bot lets running commands finish after SIGTERM before it hands the rest over and exits, 1 to 3600 (default 20)',
  GEAROPS_LOG_LEVEL: 'trace, debug, info, warn, error or silent',
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
  GEAROPS_USER_RATE: z.preprocess(emptyToUndefined, intIn(1, 10_000).default(20)),
  GEAROPS_HOST_CONCURRENCY: z.preprocess(emptyToUndefined, intIn(1, 1000).default(4)),
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
  GEAROPS_SANDBOX_USER: z.preprocess(emptyToUndefined, z.string().min(1).default('msandbox')),
  GEAROPS_SANDBOX_PASSWORD: z.preprocess(emptyToUndefined, z.string().min(1).default('msandbox')),
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
  userRatePerMinute: number;
  hostConcurrency: number;
  /** Seconds a user group's member list is fresh (stale lists serve up to 3× this while Slack fails). */
  groupsTtlS: number;
  sandboxCredentials: { user: string; password: string };
  /** Seconds running commands get after SIGTERM before the bot hands them over and exits. */
  shutdownGraceS: number;
  logLevel: string;
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
    userRatePerMinute: e.GEAROPS_USER_RATE,
    hostConcurrency: e.GEAROPS_HOST_CONCURRENCY,
    groupsTtlS: e.GEAROPS_GROUPS_TTL_S,
    sandboxCredentials: { user: e.GEAROPS_SANDBOX_USER, password: e.GEAROPS_SANDBOX_PASSWORD },
    shutdownGraceS: e.GEAROPS_SHUTDOWN_GRACE_S,
    logLevel: e.GEAROPS_LOG_LEVEL,
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
