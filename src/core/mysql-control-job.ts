/**
 * `mysql.control@host`: one step of a topology change (a ReplicationControl method) done by the worker of the node's
 * host, for a node the bot reads through that worker (NodeAddress.via). Its args name the op, the op's own values
 * (each checked here, on both sides: a GTID list, a master's address and port, bounded time-outs) and the sequence
 * it serves (`serves`): the worker's own policy must allow that action for the signed requester, and each action
 * allows only the ops its sequence does (a rejoin never makes a server writable nor detaches one).
 */
import { z } from 'zod';
import { ErrorCode, GearopsError } from '../errors.js';
import type { ControlAction, GtidState, KilledConnections } from './ports/replication-control.js';
import type { PolicyAction } from './ports/policy.js';

/** The sequences a control step serves: the policy action it needs on the worker. */
export const CONTROL_ACTIONS = [
  'replica.switchover',
  'replica.failover',
  'replica.rejoin',
] as const satisfies readonly ControlAction[];
// Every ControlAction is listed (tsc fails here when the port's type gains one that the list lacks).
const _everyAction: Exclude<ControlAction, (typeof CONTROL_ACTIONS)[number]> extends never ? true : never = true;
void _everyAction;
export type { ControlAction };

/** The ops: exactly the ReplicationControl port's methods that touch a node. */
export const CONTROL_OPS = [
  'gtidState',
  'setReadOnly',
  'killWriters',
  'waitForGtid',
  'detachReplication',
  'pointAt',
  'startReplication',
] as const;
/** One of CONTROL_OPS. */
export type ControlOp = (typeof CONTROL_OPS)[number];

/** What one op is given (besides port, credentials and serves). */
export type MysqlControlOpArgs =
  | { op: 'gtidState' }
  | { op: 'setReadOnly'; on: boolean; timeoutMs?: number }
  | { op: 'killWriters'; timeoutMs?: number }
  | { op: 'waitForGtid'; position: string; timeoutMs: number }
  | { op: 'detachReplication' }
  | { op: 'pointAt'; master: { address: string; port: number }; slavePosFromBinlog?: boolean }
  | { op: 'startReplication' };

/** What the bot asks `mysql.control`: a local server's port, the credentials entry, the sequence, the op. */
export type MysqlControlArgs = { port: number; credentials?: string; serves: ControlAction } & MysqlControlOpArgs;

/** What `mysql.control@host` answers: the op done, and its result when it has one. */
export interface MysqlControlValue {
  op: ControlOp;
  state?: GtidState;
  killed?: KilledConnections;
  reached?: boolean;
}

/**
 * The ops each sequence may ask for. Switchover and failover do them all (fencing, the end of a failover, sets
 * read_only=1 and ends writers); a rejoin reads, makes read-only, ends writers, points and starts, never more.
 */
const ALLOWED: Record<ControlAction, ReadonlySet<ControlOp>> = {
  'replica.switchover': new Set(CONTROL_OPS),
  'replica.failover': new Set(CONTROL_OPS),
  'replica.rejoin': new Set(['gtidState', 'setReadOnly', 'killWriters', 'pointAt', 'startReplication']),
};

/**
 * The policy actions of which the worker's own policy must allow one: the served sequence's; reading a node's GTID
 * state changes nothing, so `replica.status` (what mysql.status needs) is enough for it too.
 */
export function controlActions(a: Pick<MysqlControlArgs, 'op' | 'serves'>): PolicyAction[] {
  return a.op === 'gtidState' ? [a.serves, 'replica.status'] : [a.serves];
}

/** A GTID list: `domain-server-seq[,…]`, or empty (MASTER_GTID_WAIT's position). */
export const GTID_LIST_RE = /^(?:\d{1,10}-\d{1,10}-\d{1,20}(?:,\d{1,10}-\d{1,10}-\d{1,20}){0,255})?$/;
/** A master's address as CHANGE MASTER is given it: a host name or an IPv4/IPv6 address, nothing else. */
const MASTER_ADDR_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,253}[A-Za-z0-9])?$/;
/** The longest any one op may wait (a relay log applied, a position reached). */
export const MAX_CONTROL_WAIT_MS = 3_600_000;

const P = 'mysql.control';
const whole = (error: string, min: number, max: number) =>
  z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
const wait = (what: string) =>
  whole(`${P}: ${what} must be whole milliseconds, 0..${MAX_CONTROL_WAIT_MS}`, 0, MAX_CONTROL_WAIT_MS);
const unknownKey = {
  error: (iss: { code?: string; keys?: string[] }) =>
    iss.code === 'unrecognized_keys' ? `${P}: unknown argument ${iss.keys?.[0]}` : undefined,
};
const base = {
  port: whole(`${P}: port must be a whole number from 1 to 65535`, 1, 65535),
  credentials: z
    .string({ error: `${P}: credentials must be an entry name` })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { error: `${P}: credentials must be an entry name` })
    .optional(),
  serves: z.enum(CONTROL_ACTIONS, { error: `${P}: serves must be one of ${CONTROL_ACTIONS.join(', ')}` }),
};
const op = <O extends ControlOp, S extends z.ZodRawShape>(name: O, shape: S) =>
  z.strictObject({ ...base, op: z.literal(name), ...shape }, unknownKey);

const schema = z.discriminatedUnion(
  'op',
  [
    op('gtidState', {}),
    op('setReadOnly', {
      on: z.boolean({ error: `${P}: on must be true or false` }),
      timeoutMs: wait('timeoutMs').optional(),
    }),
    op('killWriters', { timeoutMs: wait('timeoutMs').optional() }),
    op('waitForGtid', {
      position: z
        .string({ error: `${P}: position must be a GTID list` })
        .regex(GTID_LIST_RE, { error: `${P}: position must be a GTID list (domain-server-seq[,…])` }),
      timeoutMs: wait('timeoutMs'),
    }),
    op('detachReplication', {}),
    op('pointAt', {
      master: z.strictObject(
        {
          address: z
            .string({ error: `${P}: master.address must be a host name or address` })
            .regex(MASTER_ADDR_RE, { error: `${P}: master.address must be a host name or address` }),
          port: whole(`${P}: master.port must be a whole number from 1 to 65535`, 1, 65535),
        },
        unknownKey,
      ),
      slavePosFromBinlog: z.boolean({ error: `${P}: slavePosFromBinlog must be true or false` }).optional(),
    }),
    op('startReplication', {}),
  ],
  { error: `${P}: op must be one of ${CONTROL_OPS.join(', ')}` },
);

/** Checks mysql.control's args (both sides); throws gearops_usage naming the first problem. */
export function parseControlArgs(raw: unknown): MysqlControlArgs {
  const r = schema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {});
  if (!r.success) {
    const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
    throw new GearopsError(ErrorCode.Usage, issue?.message ?? `${P}: the arguments do not fit`);
  }
  const a = r.data as MysqlControlArgs;
  if (!ALLOWED[a.serves].has(a.op) || (a.serves === 'replica.rejoin' && a.op === 'setReadOnly' && !a.on))
    throw new GearopsError(
      ErrorCode.Usage,
      `${P}: ${a.op}${a.op === 'setReadOnly' ? `(${String(a.on)})` : ''} is no step of ${a.serves}`,
    );
  return a;
}
