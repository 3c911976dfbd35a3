/**
 * Topology changes through the worker on a node's host, as the routed probe reads through it: a node whose address
 * says `via: <host>` is changed by `mysql.control@<host>` (signed for the person who asked, re-checked against that
 * worker's own policy for the sequence it serves; the worker logs in on loopback with credentials it keeps itself),
 * every other node by the direct control. A routed control knows who asked only once it is made `forRequester`:
 * the commands make one per command, for the person who asked; the monitor's own (fencing, automatic failover) acts
 * as MONITOR_REQUESTER, for replica.failover. Without one, a `via` node is refused, naming the worker.
 */
import { ErrorCode, GearopsError, isGearopsError, type ErrorCodeValue } from '../errors.js';
import type { Dispatcher, Requester } from './ports/dispatcher.js';
import type { NodeAddress } from './ports/replication.js';
import type { ControlAction, ReplicationControl } from './ports/replication-control.js';
import type { MysqlControlOpArgs, MysqlControlValue } from './mysql-control-job.js';

/** How long a job may take beyond the op's own wait (a login, the round trips). */
const JOB_SLACK_MS = 10_000;

/**
 * A control that sends `via` nodes' steps to their worker and does the rest with `direct`. Long as a factory only:
 * one short method per port operation, over one routing helper.
 */
export function createRoutedControl(
  direct: ReplicationControl,
  dispatcher: Pick<Dispatcher, 'submit' | 'reachable'>,
  opts: { timeoutMs?: number } = {},
): ReplicationControl {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const named = (n: NodeAddress) => `${n.address}:${n.port}`;

  // Long because it is the port's methods, each a few lines, over one job helper and one requester.
  function make(who: { requester: Requester; action: ControlAction } | undefined, root: boolean): ReplicationControl {
    async function onWorker(
      n: NodeAddress,
      via: string,
      a: MysqlControlOpArgs,
      waitMs = 0,
    ): Promise<MysqlControlValue> {
      if (!who)
        throw new GearopsError(
          ErrorCode.Usage,
          `${named(n)} is changed through the worker on ${via}, which needs to know who asked (and for what)`,
        );
      let r;
      try {
        r = await dispatcher.submit({
          capability: 'mysql.control',
          host: via,
          args: { port: n.port, ...(n.credentials ? { credentials: n.credentials } : {}), serves: who.action, ...a },
          requester: who.requester,
          timeoutMs: timeoutMs + waitMs + JOB_SLACK_MS,
        });
      } catch (err) {
        if (isGearopsError(err, ErrorCode.NoWorker))
          throw new GearopsError(ErrorCode.NoWorker, noControl(n, via), { cause: err, data: { host: via } });
        throw err;
      }
      if (!r.ok || r.value === null)
        throw new GearopsError(
          (r.error?.code as ErrorCodeValue | undefined) ?? ErrorCode.JobFailed,
          `worker ${via}: ${r.error?.message ?? 'no answer'}`,
          { data: { host: via, ...(r.error?.data ?? {}) } },
        );
      return r.value;
    }

    const control: ReplicationControl = {
      async gtidState(n) {
        if (!n.via) return direct.gtidState(n);
        const v = await onWorker(n, n.via, { op: 'gtidState' });
        if (!v.state) throw new GearopsError(ErrorCode.BadResult, `worker ${n.via} answered no GTID state`);
        return v.state;
      },
      async setReadOnly(n, on, o) {
        if (!n.via) return direct.setReadOnly(n, on, o);
        const t = o?.timeoutMs;
        await onWorker(n, n.via, { op: 'setReadOnly', on, ...(t !== undefined ? { timeoutMs: t } : {}) }, t ?? 10_000);
      },
      async killWriters(n, o) {
        if (!n.via) return direct.killWriters(n, o);
        const t = o?.timeoutMs;
        const v = await onWorker(
          n,
          n.via,
          { op: 'killWriters', ...(t !== undefined ? { timeoutMs: t } : {}) },
          t ?? 5000,
        );
        return v.killed ?? { ids: [], lingering: [] };
      },
      async waitForGtid(n, position, waitMs) {
        if (!n.via) return direct.waitForGtid(n, position, waitMs);
        const t = Math.max(0, Math.round(waitMs));
        return (await onWorker(n, n.via, { op: 'waitForGtid', position, timeoutMs: t }, t)).reached === true;
      },
      async detachReplication(n) {
        if (!n.via) return direct.detachReplication(n);
        await onWorker(n, n.via, { op: 'detachReplication' });
      },
      async pointAt(n, master, o) {
        if (!n.via) return direct.pointAt(n, master, o);
        // The worker's credentials entry gives the replication login (or the node keeps its own): none travels.
        if (o?.account)
          throw new GearopsError(
            ErrorCode.Usage,
            `${named(n)} is changed through the worker on ${n.via}: its replication login comes from that worker's ` +
              'credentials file, never from the bot',
          );
        await onWorker(n, n.via, {
          op: 'pointAt',
          master: { address: master.address, port: master.port },
          ...(o?.slavePosFromBinlog ? { slavePosFromBinlog: true } : {}),
        });
      },
      // A via node's replication login is in its worker's credentials file: pointAt says so if it has none.
      hasReplicationAccount: (n) => (n.via ? true : (direct.hasReplicationAccount?.(n) ?? true)),
      async startReplication(n) {
        if (!n.via) return direct.startReplication(n);
        await onWorker(n, n.via, { op: 'startReplication' });
      },
      forRequester: (requester, action) => make({ requester, action }, false),
      async problem(n) {
        if (!n.via) return (await direct.problem?.(n)) ?? null;
        try {
          await dispatcher.reachable(n.via, 'mysql.control');
          return null;
        } catch (err) {
          return isGearopsError(err, ErrorCode.NoWorker) ? noControl(n, n.via) : (err as Error).message;
        }
      },
      close: () => (root ? direct.close() : Promise.resolve()),
    };
    return control;
  }
  return make(undefined, true);
}

const noControl = (n: NodeAddress, via: string) =>
  `${n.address}:${n.port} is changed through the worker on ${via}, and no worker on ${via} does topology changes ` +
  '(mysql.control: a worker of this version, started with --credentials-file)';
