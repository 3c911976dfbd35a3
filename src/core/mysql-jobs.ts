/**
 * The contract of the worker capabilities that act on a MySQL server of the worker's own host for the bot, when
 * the bot cannot reach that server's port (a watched node probed `via` its host): `mysql.repair` runs one of two
 * fixed repairs (the alert buttons Restart replication and Skip one event), `mysql.sql` runs /replica sql's
 * statement. Both sides parse with these functions: the bot before it signs, the worker before it runs anything.
 */
import { ErrorCode, GearopsError } from '../errors.js';
import type { PolicyAction } from './ports/policy.js';

/** The repairs `mysql.repair` knows; nothing else can be asked of it. */
export const REPAIR_OPS = ['restart', 'skip'] as const;
/** One repair. */
export type RepairOp = (typeof REPAIR_OPS)[number];

/** The policy action each repair needs, on the bot and again on the worker (the buttons' own actions). */
export const REPAIR_ACTIONS: Record<RepairOp, PolicyAction> = { restart: 'replica.restart', skip: 'replica.skip' };

/** What the bot asks of `mysql.repair@host`. */
export interface MysqlRepairArgs {
  port: number;
  credentials?: string;
  op: RepairOp;
}

/** What the bot asks of `mysql.sql@host`. */
export interface MysqlSqlArgs {
  port: number;
  credentials?: string;
  sql: string;
  /** The server ends the statement after this many seconds (max_statement_time). */
  maxStatementTimeS: number;
  /** Past it the worker ends the statement with KILL QUERY. */
  timeoutMs: number;
}

/** What `mysql.sql` answers: at most MAX_SQL_ROWS rows, and how many there were. */
export interface MysqlSqlValue {
  columns: string[];
  rows: string[][];
  totalRows: number;
}

/** Rows a worker sends back (the chat shows 50): a result cannot grow past a Gearman frame by its row count. */
export const MAX_SQL_ROWS = 1000;
/** The longest statement either side accepts. */
export const MAX_SQL_LENGTH = 8000;

const CRED_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function base(what: string, raw: unknown, keys: string[]): Record<string, unknown> {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${what}: ${why}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw usage('arguments must be an object');
  const a = raw as Record<string, unknown>;
  const extra = Object.keys(a).filter((k) => !keys.includes(k));
  if (extra.length) throw usage(`unknown argument ${extra[0]!.slice(0, 40)}`);
  if (typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port < 1 || a.port > 65535)
    throw usage('port must be a whole number from 1 to 65535');
  if (a.credentials !== undefined && (typeof a.credentials !== 'string' || !CRED_RE.test(a.credentials)))
    throw usage('credentials must be an entry name');
  return a;
}

/** Checks `mysql.repair`'s arguments; throws a usage error naming what is wrong. */
export function parseRepairArgs(raw: unknown): MysqlRepairArgs {
  const a = base('mysql.repair', raw, ['port', 'credentials', 'op']);
  if (!REPAIR_OPS.includes(a.op as RepairOp))
    throw new GearopsError(ErrorCode.Usage, `mysql.repair: op must be one of ${REPAIR_OPS.join(', ')}`);
  return {
    port: a.port as number,
    op: a.op as RepairOp,
    ...(a.credentials !== undefined ? { credentials: a.credentials as string } : {}),
  };
}

/** Checks `mysql.sql`'s arguments (not the statement's words: the worker's policy does that); throws naming what. */
export function parseSqlArgs(raw: unknown): MysqlSqlArgs {
  const a = base('mysql.sql', raw, ['port', 'credentials', 'sql', 'maxStatementTimeS', 'timeoutMs']);
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `mysql.sql: ${why}`);
  if (typeof a.sql !== 'string' || a.sql.trim() === '' || a.sql.length > MAX_SQL_LENGTH)
    throw usage(`sql must be a statement of at most ${MAX_SQL_LENGTH} characters`);
  const s = a.maxStatementTimeS;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > 600)
    throw usage('maxStatementTimeS must be a whole number from 1 to 600');
  const t = a.timeoutMs;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 100 || t > 600_000)
    throw usage('timeoutMs must be a whole number from 100 to 600000');
  return {
    port: a.port as number,
    sql: a.sql,
    maxStatementTimeS: s,
    timeoutMs: t,
    ...(a.credentials !== undefined ? { credentials: a.credentials as string } : {}),
  };
}
