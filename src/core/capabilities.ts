/**
 * The contract between the bot and the workers: each capability's name, its args and its value, and (where the
 * worker needs one) the schema its args are checked against before anything runs. `Dispatcher.submit` and the
 * worker's `defineCapability` are both typed by `CapabilityContract`, so a value changed on one side fails the
 * type check on the other. The name and host patterns live here too, for both sides.
 */
import { z } from 'zod';
import { ErrorCode, GearopsError } from '../errors.js';
import type { NodeStatus } from './ports/replication.js';
import type { NodeFacts } from './topology.js';
import type { WorkerInfo } from './worker-info.js';
import {
  parseRepairArgs,
  parseSqlArgs,
  type MysqlRepairArgs,
  type MysqlSqlArgs,
  type MysqlSqlValue,
  type RepairOp,
} from './mysql-jobs.js';
import { parseControlArgs, type MysqlControlArgs, type MysqlControlValue } from './mysql-control-job.js';

export type { MysqlRepairArgs, MysqlSqlArgs, MysqlSqlValue, RepairOp, MysqlControlArgs, MysqlControlValue };

/** A cluster's name, which is also its sandboxes' name on every host. */
export const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
/** A host's name, as its worker registers it (`<capability>@<host>`). */
export const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** A credentials entry's name (named credentials of watched clusters, and a host's own for mysql.status). */
export const CRED_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The token naming one /replica install's jobs (sandbox.cancel stops the jobs of a token). */
export const TOKEN_RE = /^[A-Za-z0-9-]{1,64}$/;
/** An address other hosts reach a sandbox on (the worker's --advertise, a master's address). */
export const ADDR_RE = /^[A-Za-z0-9.:_-]{1,255}$/;

/** What `run` is asked: the command line, parsed and re-checked by the worker's own policy. */
export interface RunArgs {
  line: string;
}

/** What one spawned pipeline gave. */
export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  outputBytes: number;
  output: string;
  durationMs: number;
  error?: string;
}

/** What `run` returns: the pipeline's result and the rule of the worker's policy that allowed it. */
export interface RunValue extends ExecResult {
  rule?: string;
}

/** What `sandbox.check` is asked: ports to look at, and a version (informational). */
export interface SandboxCheckArgs {
  ports?: number[];
  version?: string;
}

/** What `sandbox.check@host` answers. */
export interface SandboxCheckValue {
  host: string;
  /** The address other hosts use to reach this host's sandboxes (the worker's --advertise). */
  address?: string;
  versions: Array<{ version: string; flavour: string }>;
  ports: Array<{ port: number; free: boolean; reason?: string }>;
  freeDiskBytes: number;
  sandboxes: Array<{ name: string; version: string; port: number; running: boolean; role?: string; cluster?: string }>;
  problems?: string[];
}

/** What `sandbox.install` is asked: one node of a cluster; `secrets` carries its passwords sealed for the job. */
export interface SandboxInstallArgs {
  name: string;
  cluster: string;
  version?: string;
  port: number;
  serverId: number;
  role: 'master' | 'replica';
  master?: { address: string; port: number };
  token?: string;
  secrets?: string;
}

/** What `sandbox.install@host` answers (never a password). */
export interface SandboxInstallValue {
  name: string;
  cluster: string;
  role: 'master' | 'replica';
  version: string;
  flavour: string;
  address: string;
  port: number;
  serverId: number;
  master: { address: string; port: number } | null;
  socket: string;
  dataDir: string;
  durationMs: number;
  /** A re-sent install of a sandbox already made with the same parameters. */
  alreadyInstalled?: boolean;
}

/** What `sandbox.remove` is asked; `undo: 'install'` is the clean-up of a failed install. */
export interface SandboxRemoveArgs {
  name: string;
  undo?: 'install';
}

/** What `sandbox.cancel` is asked: the sandbox and the install token whose jobs stop. */
export interface SandboxCancelArgs {
  name: string;
  token: string;
}

/** What the bot asks mysql.status: a local server's port, the credentials entry, and whether to add facts. */
export interface MysqlStatusArgs {
  port: number;
  credentials?: string;
  facts?: boolean;
}

/** What `mysql.status@host` answers. */
export interface MysqlStatusValue {
  status: NodeStatus;
  facts?: NodeFacts;
}

/** Every capability a bot submits and a worker registers, by name: its args and its value. */
export interface CapabilityContract {
  run: { args: RunArgs; value: RunValue };
  'sandbox.check': { args: SandboxCheckArgs; value: SandboxCheckValue };
  'sandbox.install': { args: SandboxInstallArgs; value: SandboxInstallValue };
  'sandbox.remove': { args: SandboxRemoveArgs; value: { name: string; removed: true } };
  'sandbox.cancel': { args: SandboxCancelArgs; value: { name: string; stopped: boolean } };
  'mysql.status': { args: MysqlStatusArgs; value: MysqlStatusValue };
  'mysql.repair': { args: MysqlRepairArgs; value: { done: RepairOp } };
  'mysql.sql': { args: MysqlSqlArgs; value: MysqlSqlValue };
  'mysql.control': { args: MysqlControlArgs; value: MysqlControlValue };
  'gearops.info': { args: Record<string, never>; value: WorkerInfo };
}

/** A capability's name. */
export type CapabilityName = keyof CapabilityContract;
/** The args of capability `N`. */
export type ArgsOf<N extends CapabilityName> = CapabilityContract[N]['args'];
/** The value of capability `N`. */
export type ValueOf<N extends CapabilityName> = CapabilityContract[N]['value'];

const sandboxName = z
  .string({ error: 'sandbox name must be lower-case letters, digits and _' })
  .regex(NAME_RE, { error: 'sandbox name must be lower-case letters, digits and _' });
const token = z
  .string({ error: 'token must be 1..64 letters, digits and -' })
  .regex(TOKEN_RE, { error: 'token must be 1..64 letters, digits and -' });
const whole = (error: string, min: number, max: number) =>
  z.number({ error }).int({ error }).min(min, { error }).max(max, { error });

const NEEDS_MASTER = 'a replica needs master { address, port }';
const installArgs = z
  .object({
    name: sandboxName,
    cluster: z
      .string({ error: 'cluster name must be lower-case letters, digits and _' })
      .regex(NAME_RE, { error: 'cluster name must be lower-case letters, digits and _' }),
    version: z.string({ error: 'version must be text, such as 10.11' }).optional(),
    port: whole('port must be 1024..65535', 1024, 65535),
    serverId: whole('serverId must be a positive whole number', 1, 4_294_967_295),
    role: z.enum(['master', 'replica'], { error: 'role must be master or replica' }),
    // A master's own `master` is ignored (as before); a replica's must be whole (checked below).
    master: z
      .object({ address: z.string().regex(ADDR_RE), port: z.number().int() })
      .optional()
      .catch(undefined),
    token: token.optional(),
    // Not a string: the install carries no passwords, which the capability says in its own words.
    secrets: z.string().optional().catch(undefined),
  })
  .refine((a) => a.role !== 'replica' || a.master !== undefined, { error: NEEDS_MASTER });

const MYSQL_PORT = 'mysql.status: port must be a whole number from 1 to 65535';
const mysqlStatusArgs = z.strictObject(
  {
    port: whole(MYSQL_PORT, 1, 65535),
    credentials: z
      .string({ error: 'mysql.status: credentials must be an entry name' })
      .regex(CRED_RE, { error: 'mysql.status: credentials must be an entry name' })
      .optional(),
    facts: z.boolean({ error: 'mysql.status: facts must be true or false' }).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `mysql.status: unknown argument ${iss.keys[0]}` : undefined) },
);

/**
 * The schema each capability's args are checked against on the worker before anything runs (`run` has none: its
 * worker's policy parses the line; `gearops.info` takes nothing). sandbox.check never refuses: it looks at the
 * valid ports among those given, at most 20.
 */
export const ARG_SCHEMAS: { [N in CapabilityName]?: z.ZodType<ArgsOf<N>, unknown> } = {
  'sandbox.check': z.looseObject({}).transform((raw: { ports?: unknown; version?: unknown }) => {
    const ports = Array.isArray(raw.ports)
      ? raw.ports.filter((x): x is number => Number.isInteger(x) && x > 0 && x < 65536).slice(0, 20)
      : undefined;
    return { ports, version: typeof raw.version === 'string' ? raw.version : undefined };
  }),
  'sandbox.install': installArgs,
  'sandbox.remove': z.object({ name: sandboxName, undo: z.literal('install').optional().catch(undefined) }),
  'sandbox.cancel': z.object({ name: sandboxName, token }),
  'mysql.status': mysqlStatusArgs,
};

/** Capabilities whose args one parser checks on both sides (src/core/mysql-jobs.ts, mysql-control-job.ts). */
const ARG_PARSERS: { [N in CapabilityName]?: (raw: unknown) => ArgsOf<N> } = {
  'mysql.repair': parseRepairArgs,
  'mysql.sql': parseSqlArgs,
  'mysql.control': parseControlArgs,
};

/**
 * Checks `raw` against capability `name`'s schema (or its parser); throws gearops_usage with the first problem's message (an
 * unknown argument first), before anything runs. Missing args are an empty object.
 */
export function parseArgs<N extends CapabilityName>(name: N, raw: unknown): ArgsOf<N> {
  const parser = ARG_PARSERS[name] as ((raw: unknown) => ArgsOf<N>) | undefined;
  if (parser) return parser(raw);
  const schema = ARG_SCHEMAS[name] as z.ZodType<ArgsOf<N>, unknown> | undefined;
  if (!schema) return (raw ?? {}) as ArgsOf<N>;
  // Anything but an object is no args at all (as a missing one is).
  const r = schema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {});
  if (r.success) return r.data;
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
  throw new GearopsError(ErrorCode.Usage, issue?.message ?? `${name}: the arguments do not fit`);
}
