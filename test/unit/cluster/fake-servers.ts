/**
 * A small model of MariaDB servers behind the probe and ReplicationControl ports, for unit tests of the failover
 * and rejoin sequences: read_only, replication source and threads, GTID positions and binlog state; writes on a
 * master reach the replicas that replicate from it. Also an in-memory cluster store, change journal and pool.
 */
import { formatGtidList, parseGtidList, positionOf, type Gtid } from '../../../src/core/gtid.js';
import { unreachableStatus, type NodeAddress, type NodeStatus } from '../../../src/core/ports/replication.js';
import type { GtidState, ReplicationControl } from '../../../src/core/ports/replication-control.js';
import type { ClusterNode, ClusterRecord, PoolChange, PoolNode } from '../../../src/core/ports/store.js';
import { planWriteMove } from '../../../src/core/pool-move.js';
import { createSilentLogger } from '../../../src/log.js';
import { createMemoryChangeJournal, createMemoryLocks } from '../fakes/ports.js';
import type { FailoverDeps } from '../../../src/cluster/failover.js';
import { storeTopologyLocks } from '../../../src/cluster/topology-lock.js';

/** One modelled server. */
export interface FakeServer {
  up: boolean;
  serverId: number;
  readOnly: boolean;
  master?: { host: string; port: number };
  io: 'Yes' | 'No' | 'Connecting';
  sql: 'Yes' | 'No';
  /** Every GTID in its binlog (its own writes and, log_slave_updates, what it applied). */
  binlog: Gtid[];
  slavePos: string;
  /** Received, not yet applied (the relay log). */
  relay: Gtid[];
  sqlError?: string;
}

const k = (a: { address?: string; host?: string; port: number }) => `${a.address ?? a.host}:${a.port}`;
const state = (list: Gtid[]) => {
  const m = new Map<string, Gtid>();
  for (const g of list) m.set(`${g.domain}-${g.server}`, g);
  return [...m.values()];
};

/** The world: servers by address:port, and every control call made (in order). */
export function createFakeServers(nodes: ClusterNode[]) {
  const servers = new Map<string, FakeServer>();
  const calls: string[] = [];
  for (const n of nodes)
    servers.set(k(n), {
      up: true,
      serverId: n.serverId,
      readOnly: n.role === 'replica',
      ...(n.role === 'replica' ? { master: { host: nodes[0]!.address, port: nodes[0]!.port } } : {}),
      io: n.role === 'replica' ? 'Yes' : 'No',
      sql: n.role === 'replica' ? 'Yes' : 'No',
      binlog: [],
      slavePos: '',
      relay: [],
    });
  const get = (a: NodeAddress) => {
    const s = servers.get(k(a));
    if (!s || !s.up) throw new Error(`${k(a)}: connect ECONNREFUSED`);
    return s;
  };
  const replicasOf = (a: string) => [...servers.entries()].filter(([, s]) => s.master && k(s.master) === a);

  /** Applies the relay log of every running replica (what SQL threads do). */
  const apply = () => {
    for (const s of servers.values())
      if (s.up && s.sql === 'Yes' && !s.sqlError) {
        for (const g of s.relay) s.binlog.push(g);
        if (s.relay.length)
          s.slavePos = formatGtidList([...positionOf([...parseGtidList(s.slavePos), ...s.relay]).values()]);
        s.relay = [];
      }
  };
  /** Ships a master's binlog to its connected replicas' relay logs. */
  const ship = () => {
    for (const [a, m] of servers) {
      if (!m.up) continue;
      for (const [, r] of replicasOf(a)) {
        if (!r.up || r.io !== 'Yes') continue;
        const have = positionOf([...r.binlog, ...r.relay]);
        for (const g of m.binlog) if ((have.get(g.domain)?.seq ?? 0n) < g.seq) r.relay.push(g);
      }
    }
  };

  const world = {
    servers,
    calls,
    /** A write on `a` (a binlogged transaction); `reach`: ship and apply it to replicas (default true). */
    write(a: string, reach = true) {
      const s = servers.get(a)!;
      const last = positionOf(s.binlog).get(0)?.seq ?? 0n;
      s.binlog.push({ domain: 0, server: s.serverId, seq: last + 1n });
      if (reach) {
        ship();
        apply();
      }
    },
    kill(a: string) {
      servers.get(a)!.up = false;
      for (const [, r] of replicasOf(a)) if (r.up && r.io === 'Yes') r.io = 'Connecting';
    },
    restart(a: string) {
      servers.get(a)!.up = true;
    },
    status: async (a: NodeAddress): Promise<NodeStatus> => {
      const s = servers.get(k(a));
      if (!s || !s.up) return unreachableStatus(`${k(a)}: connect ECONNREFUSED`);
      const m = s.master ? servers.get(k(s.master)) : undefined;
      if (s.master && s.io !== 'No') s.io = m?.up ? 'Yes' : 'Connecting';
      return {
        reachable: true,
        readOnly: s.readOnly,
        isReplica: !!s.master,
        ioRunning: s.master ? s.io : null,
        sqlRunning: s.master ? s.sql : null,
        secondsBehind: null,
        lastIoErrno: s.master && s.io === 'Connecting' ? 2003 : null,
        lastIoError: s.master && s.io === 'Connecting' ? "Can't connect" : null,
        lastSqlErrno: s.sqlError ? 1062 : null,
        lastSqlError: s.sqlError ?? null,
        ...(s.master ? { masterHost: s.master.host, masterPort: s.master.port } : {}),
        gtid: s.master ? s.slavePos : formatGtidList([...positionOf(s.binlog).values()]),
      };
    },
  };

  const control: ReplicationControl = {
    async gtidState(a): Promise<GtidState> {
      await world.status(a);
      const s = get(a);
      const binlogPos = formatGtidList([...positionOf(s.binlog).values()]);
      return {
        serverId: s.serverId,
        binlogPos,
        binlogState: formatGtidList(state(s.binlog)),
        currentPos: binlogPos,
        slavePos: s.slavePos,
        ioPos: formatGtidList([...positionOf([...s.binlog, ...s.relay]).values()]),
        readOnly: s.readOnly,
        logBin: true,
        logSlaveUpdates: true,
        replicating: !!s.master,
        ...(s.master ? { master: { ...s.master } } : {}),
        usingGtid: s.master ? 'Slave_Pos' : null,
        ioRunning: s.master ? s.io : null,
        sqlRunning: s.master ? s.sql : null,
        secondsBehind: null,
        lastIoError: null,
        lastSqlError: s.sqlError ?? null,
        relayBacklog: s.relay.length * 100,
      };
    },
    async setReadOnly(a, on) {
      calls.push(`read_only=${on ? 1 : 0} ${k(a)}`);
      get(a).readOnly = on;
    },
    async killWriters() {
      return { ids: [], lingering: [] };
    },
    async waitForGtid(a) {
      calls.push(`wait ${k(a)}`);
      apply();
      return true;
    },
    async detachReplication(a) {
      calls.push(`detach ${k(a)}`);
      const s = get(a);
      delete s.master;
      s.io = 'No';
      s.sql = 'No';
      s.relay = [];
    },
    async pointAt(a, m, o) {
      calls.push(`point ${k(a)} at ${m.address}:${m.port}`);
      const s = get(a);
      if (o?.slavePosFromBinlog) s.slavePos = formatGtidList([...positionOf(s.binlog).values()]);
      s.master = { host: m.address, port: m.port };
      s.io = 'No';
      s.sql = 'No';
      s.relay = [];
    },
    async startReplication(a) {
      calls.push(`start ${k(a)}`);
      const s = get(a);
      s.io = 'Yes';
      s.sql = 'Yes';
      ship();
      apply();
    },
    async close() {},
  };
  return { ...world, control };
}

/**
 * A three-node cluster record (m, r1, r2), its world, and failover deps over them. `locks`: the store's named locks
 * (default a fresh set; pass one set to two worlds' deps to model two bot instances over one store).
 */
export function fakeFailoverWorld(opts: { pool?: boolean; locks?: ReturnType<typeof createMemoryLocks> } = {}) {
  const locks = opts.locks ?? createMemoryLocks();
  const nodes: ClusterNode[] = ['m', 'r1', 'r2'].map((h, i) => ({
    host: h,
    address: `10.0.0.${i + 1}`,
    port: 3306,
    role: i === 0 ? 'master' : 'replica',
    serverId: i + 1,
    sandbox: 'c',
  }));
  let record: ClusterRecord = { name: 'c', version: '10.11', credentials: 'x', createdBy: 'U', nodes, state: 'ready' };
  const world = createFakeServers(nodes);
  const journal = createMemoryChangeJournal();
  const pool: PoolNode[] =
    opts.pool === false
      ? []
      : nodes.map((n, i) => ({
          host: n.address,
          port: n.port,
          sock: '',
          type: i === 0 ? ['READ', 'WRITE'] : ['READ'],
        }));
  const announced: PoolChange[] = [];
  const deps: FailoverDeps = {
    clusters: {
      get: async (name) => (name === 'c' ? structuredClone(record) : null),
      setNodes: async (_name, ns) => {
        record = { ...record, nodes: structuredClone(ns) };
        return true;
      },
    },
    probe: { status: world.status },
    control: world.control,
    journal,
    locks: storeTopologyLocks(locks),
    pool: {
      get: async (h, p) => pool.find((x) => x.host === h && x.port === p) ?? null,
      moveWrite: async (m) => {
        const made: PoolChange[] = [];
        for (const r of planWriteMove(pool, m)) {
          const i = pool.findIndex((x) => x.host === r.host && x.port === r.port);
          if (r.after === null) pool.splice(i, 1);
          else if (i < 0) pool.push({ host: r.host, port: r.port, sock: r.sock, type: r.after });
          else pool[i]!.type = r.after;
          made.push({ host: r.host, port: r.port, before: r.before, after: r.after, actor: m.actor, reason: m.reason });
        }
        return made;
      },
    },
    announcePool: async (ch) => void announced.push(ch),
    failcount: 2,
    intervalMs: 1,
    logger: createSilentLogger(),
  };
  return { nodes, world, journal, pool, announced, deps, locks, record: () => record };
}
