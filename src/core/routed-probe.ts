/**
 * Reading a server through the worker on its host: a node whose address says `via: <host>` is read by the
 * `mysql.status@<host>` capability (signed and policy-checked like every job; the worker logs in with credentials it
 * keeps itself), every other node directly. Production database ports are often closed to all but the application
 * tier, while the host's worker is reachable over Gearman. The alert buttons' repairs and /replica sql go to the
 * same worker (`mysql.repair`, `mysql.sql`), as the person who asked, under that worker's own policy too.
 */
import { ErrorCode, GearopsError, type ErrorCodeValue } from '../errors.js';
import type { Dispatcher, Requester } from './ports/dispatcher.js';
import { unreachableStatus, type NodeAddress, type NodeStatus, type ReplicationProbe } from './ports/replication.js';
import type { NodeFacts, TopologyReader } from './topology.js';
import type { MysqlRepairArgs, MysqlSqlArgs, MysqlSqlValue, RepairOp } from './mysql-jobs.js';

/** What `mysql.status@host` answers (src/worker/capabilities/mysql-status.ts). */
export interface MysqlStatusAnswer {
  status: NodeStatus;
  facts?: NodeFacts;
}

/** Who the bot's own reads are done for, as the worker's policy sees it. */
export const MONITOR_REQUESTER: Requester = { userId: 'gearops-monitor', channelId: '', roles: [] };

async function throughWorker(
  dispatcher: Dispatcher,
  n: NodeAddress & { via: string },
  facts: boolean,
  timeoutMs: number,
): Promise<MysqlStatusAnswer> {
  const r = await dispatcher.submit<MysqlStatusAnswer>({
    capability: 'mysql.status',
    host: n.via,
    args: { port: n.port, ...(n.credentials ? { credentials: n.credentials } : {}), ...(facts ? { facts } : {}) },
    requester: MONITOR_REQUESTER,
    timeoutMs,
  });
  if (!r.ok || !r.value)
    throw new GearopsError(ErrorCode.JobFailed, `worker ${n.via}: ${r.error?.message ?? 'no answer'}`, {
      data: { host: n.via },
    });
  return r.value;
}

const viaOf = (n: NodeAddress): (NodeAddress & { via: string }) | null => (n.via ? { ...n, via: n.via } : null);

/** Runs `capability` on the node's host worker as `requester`; a refusal keeps its code (a denial stays one). */
async function onWorker<V>(
  dispatcher: Dispatcher,
  n: NodeAddress & { via: string },
  capability: string,
  args: MysqlRepairArgs | MysqlSqlArgs,
  requester: Requester | undefined,
  timeoutMs: number,
  what: string,
): Promise<V> {
  if (!requester)
    throw new GearopsError(
      ErrorCode.Usage,
      `${what} on ${n.address}:${n.port} goes through the worker on ${n.via}, which needs to know who asked`,
    );
  const r = await dispatcher.submit<V>({ capability, host: n.via, args, requester, timeoutMs });
  if (!r.ok || r.value === null)
    throw new GearopsError(
      (r.error?.code as ErrorCodeValue | undefined) ?? ErrorCode.JobFailed,
      `worker ${n.via}: ${r.error?.message ?? 'no answer'}`,
      { data: { host: n.via, ...(r.error?.data ?? {}) } },
    );
  return r.value;
}

/** A probe that reads `via` nodes through their host's worker and everything else with `direct`. */
export function createRoutedProbe(
  direct: ReplicationProbe,
  dispatcher: Dispatcher,
  opts: { timeoutMs?: number } = {},
): ReplicationProbe {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const directOnly = (n: NodeAddress, what: string) => {
    if (!n.via) return;
    throw new GearopsError(
      ErrorCode.Usage,
      `${n.address}:${n.port} is read through the worker on ${n.via}; ${what} needs a direct connection to it ` +
        '(the worker does only status, the alert repairs and /replica sql)',
    );
  };
  const repair = (w: NodeAddress & { via: string }, op: RepairOp, requester: Requester | undefined) =>
    onWorker<{ done: string }>(
      dispatcher,
      w,
      'mysql.repair',
      { port: w.port, ...(w.credentials ? { credentials: w.credentials } : {}), op },
      requester,
      timeoutMs,
      op === 'restart' ? 'Restart replication' : 'Skip one event',
    );
  return {
    async status(n) {
      const w = viaOf(n);
      if (!w) return direct.status(n);
      try {
        return (await throughWorker(dispatcher, w, false, timeoutMs)).status;
      } catch (err) {
        return unreachableStatus(`through the worker on ${w.via}: ${(err as Error).message}`);
      }
    },
    async exec(n, sql, o) {
      const w = viaOf(n);
      if (!w) return direct.exec(n, sql, o);
      // Only /replica sql's read-only statements run through a worker; nothing else may send it text.
      if (!o?.readOnly) directOnly(n, 'a statement that is not read-only');
      const stmtTimeoutMs = o?.timeoutMs ?? 5000;
      const v = await onWorker<MysqlSqlValue>(
        dispatcher,
        w,
        'mysql.sql',
        {
          port: w.port,
          ...(w.credentials ? { credentials: w.credentials } : {}),
          sql,
          maxStatementTimeS: o?.maxStatementTimeS ?? Math.ceil(stmtTimeoutMs / 1000),
          timeoutMs: stmtTimeoutMs,
        },
        o?.requester,
        // The worker ends the statement at its time-out; the job gets a few seconds more to say so.
        stmtTimeoutMs + 5000,
        '/replica sql',
      );
      return { columns: v.columns, rows: v.rows };
    },
    async verifyReplication(master, replicas, o) {
      for (const n of [master, ...replicas]) directOnly(n, 'proving replication');
      return direct.verifyReplication(master, replicas, o);
    },
    async startReplication(n, o) {
      const w = viaOf(n);
      if (!w) return direct.startReplication(n, o);
      await repair(w, 'restart', o?.requester);
    },
    async stopReplication(n, thread) {
      directOnly(n, 'stopping replication');
      return direct.stopReplication(n, thread);
    },
    async skipOneEvent(n, o) {
      const w = viaOf(n);
      if (!w) return direct.skipOneEvent(n, o);
      await repair(w, 'skip', o?.requester);
    },
    close: () => direct.close(),
  };
}

/**
 * A topology reader for discovery: a server is read through a worker when it is named (`viaFor`) — the start
 * node given with probe=worker:<host>, or a server whose address is a live worker's host name — else directly.
 */
export function createRoutedTopologyReader(
  direct: TopologyReader,
  dispatcher: Dispatcher,
  opts: { credentials: string; viaFor(n: NodeAddress): string | undefined; timeoutMs?: number },
): TopologyReader {
  return {
    async facts(n) {
      const via = opts.viaFor(n);
      if (!via) return direct.facts(n);
      const a = await throughWorker(
        dispatcher,
        { ...n, via, credentials: opts.credentials },
        true,
        opts.timeoutMs ?? 5000,
      );
      if (!a.facts) throw new GearopsError(ErrorCode.JobFailed, `worker ${via} answered no topology facts`);
      return a.facts;
    },
  };
}
