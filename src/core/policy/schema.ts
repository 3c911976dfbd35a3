/** The policy file's schema (zod, strict: unknown keys are errors). */
import { z } from 'zod';

const who = z.union([
  z.literal('everyone'),
  z.array(
    z
      .string()
      .regex(
        /^(role:[a-z][a-z0-9_-]*|[UW][A-Z0-9]+|[a-zA-Z0-9._-]+)$/,
        'expected a Slack user id (U…), role:<name> or a console user name',
      ),
  ),
]);
const channels = z.union([z.literal('any'), z.array(z.string().min(1))]);
// A handle (@dbas) or a name would never match a user's groups: say so at load time, not by silently denying.
const groupId = z
  .string()
  .regex(/^S[A-Z0-9]+$/, 'expected a Slack user-group id such as S0123ABCD (not a @handle or a name)');
// How many hosts one /run may reach (fan-out), for the whole policy or one rule.
const maxHosts = z.number().int().min(1).max(10_000);
const hosts = z.array(z.string().regex(/^[A-Za-z0-9*?._-]+$/, 'expected a host name or glob')).min(1);

/** Every action name the policy may govern. */
export const ACTION_NAMES = [
  'replica.install',
  'replica.remove',
  'replica.status',
  'replica.list',
  'replica.diagnose',
  'replica.sql',
  'replica.restart',
  'replica.skip',
  'replica.watch',
  'replica.unwatch',
  'replica.switchover',
  'replica.failover',
  'replica.rejoin',
  'incident.ack',
  'pool.list',
  'pool.add',
  'pool.set',
  'pool.offline',
  'pool.del',
] as const;

/** The whole file. */
export const policySchema = z.strictObject({
  version: z.literal(1),
  settings: z
    .strictObject({
      timeout_s: z.number().int().min(1).max(3600).default(30),
      max_output_bytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      auto_offline: z.boolean().default(false),
      max_hosts: maxHosts.default(100),
      // Automatic failover (the monitor promotes a replica by itself once the master is confirmed lost).
      auto_failover: z.boolean().default(false),
      // No second automatic failover of a cluster within this many seconds of the last one (anti-flapping).
      failover_block_s: z
        .number()
        .int()
        .min(0)
        .max(30 * 86_400)
        .default(3600),
      // Polls in a row the master must be lost (to the bot and to every replica's IO thread) before it counts.
      failcount: z.number().int().min(1).max(100).default(3),
      switchover_timeout_s: z.number().int().min(1).max(3600).default(10),
    })
    .default({
      timeout_s: 30,
      max_output_bytes: 1024 * 1024,
      auto_offline: false,
      max_hosts: 100,
      auto_failover: false,
      failover_block_s: 3600,
      failcount: 3,
      switchover_timeout_s: 10,
    }),
  groups: z
    .record(
      z.string().regex(/^[a-z][a-z0-9_-]{0,30}$/, 'group names are lower-case words (letters, digits, _ -)'),
      z
        .array(z.string().regex(/^[A-Za-z0-9._\-[\],*?@]{1,512}$/, 'expected host names, ranges, globs or @groups'))
        .min(1),
    )
    .default({}),
  roles: z
    .record(
      z.string().regex(/^[a-z][a-z0-9_-]*$/, 'role names are lower-case words'),
      z.strictObject({ users: z.array(z.string()).default([]), groups: z.array(groupId).default([]) }),
    )
    .default({}),
  commands: z
    .array(
      z.strictObject({
        rule: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'rule names are lower-case words'),
        allow: z.array(z.string().min(1)).min(1),
        hosts: hosts.default(['*']),
        who: who.default('everyone'),
        channels: channels.default('any'),
        grep: z.boolean().default(false),
        timeout_s: z.number().int().min(1).max(3600).optional(),
        max_hosts: maxHosts.optional(),
        max_output_bytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .optional(),
      }),
    )
    .default([]),
  actions: z
    .array(
      z.strictObject({
        rule: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'rule names are lower-case words'),
        actions: z.array(z.enum(ACTION_NAMES)).min(1),
        hosts: hosts.default(['*']),
        who: who.default('everyone'),
        channels: channels.default('any'),
      }),
    )
    .default([]),
  sql: z
    .array(
      z.strictObject({
        rule: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'rule names are lower-case words'),
        statements: z.array(z.enum(['SELECT', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN'])).min(1),
        who: who.default('everyone'),
        channels: channels.default('any'),
      }),
    )
    .default([]),
});

/** The parsed file. */
export type PolicyFile = z.infer<typeof policySchema>;
