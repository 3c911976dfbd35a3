/**
 * `mysql.control@host`: one step of a switchover, failover, rejoin or fencing on a server of this host, for a node
 * the bot reads through this worker. The op is a ReplicationControl method, run by the same adapter the bot uses
 * directly (src/mysql/replication-control.ts: fixed statements, every value checked and passed as a parameter), on
 * loopback, as the named entry of this worker's credentials file (its `replication:` is the login pointAt gives a
 * server that never replicated; no password ever comes with the job).
 *
 * This worker's own policy must allow, for the signed requester on this host, the action of the sequence the step
 * serves (`serves`: replica.switchover, replica.failover or replica.rejoin; reading the GTID state is also allowed
 * by replica.status). The monitor's fencing and automatic failover act as `gearops-monitor`, for replica.failover.
 * A denial names the rule and runs nothing. gearmand may hand a job out again: the daemon runs a job id once and
 * answers a re-send with the first run's result.
 */
import type { Capability } from '../capability.js';
import { defineCapability, requireAction } from '../capability.js';
import {
  controlActions,
  parseControlArgs,
  type MysqlControlArgs,
  type MysqlControlValue,
} from '../../core/mysql-control-job.js';
import { createReplicationControl } from '../../mysql/replication-control.js';
import { login, type LocalOpts } from './mysql-repair.js';

/** Runs one op on the local server with a control made for this job, closed after it. */
async function runOp(o: LocalOpts, a: MysqlControlArgs): Promise<MysqlControlValue> {
  const { name, account } = login(o, a.credentials);
  const control = createReplicationControl({ credentials: account, named: () => account });
  const n = { address: o.address ?? '127.0.0.1', port: a.port, credentials: name };
  try {
    switch (a.op) {
      case 'gtidState':
        return { op: a.op, state: await control.gtidState(n) };
      case 'setReadOnly':
        await control.setReadOnly(n, a.on, a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : undefined);
        return { op: a.op };
      case 'killWriters':
        return {
          op: a.op,
          killed: await control.killWriters(n, a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : undefined),
        };
      case 'waitForGtid':
        return { op: a.op, reached: await control.waitForGtid(n, a.position, a.timeoutMs) };
      case 'detachReplication':
        await control.detachReplication(n);
        return { op: a.op };
      case 'pointAt':
        await control.pointAt(n, a.master, a.slavePosFromBinlog ? { slavePosFromBinlog: true } : undefined);
        return { op: a.op };
      case 'startReplication':
        await control.startReplication(n);
        return { op: a.op };
    }
  } finally {
    await control.close();
  }
}

/** `mysql.control`: a topology change's step, behind the served sequence's policy action on this worker. */
export function createMysqlControlCapability(o: LocalOpts): Capability<MysqlControlArgs, MysqlControlValue> {
  // Its args are parsed (parseControlArgs, through the contract) before the handler runs.
  const cap = defineCapability('mysql.control', (ctx) => runOp(o, ctx.args));
  // The args are checked before the action is looked up: an unknown op or sequence is a usage error, never "allowed".
  return requireAction(cap, o, (args) => controlActions(parseControlArgs(args)));
}
