/**
 * The whole Store port in memory, for unit tests of the code above it. It passes the store's contract
 * (test/unit/ports/store-conformance.ts) like the MariaDB store does: a change to either must keep both passing.
 * `createMemoryDatabase()` is the shared state; each `open()` on it is one bot instance (its own locks), as two
 * stores on one MySQL database are. The file is long because it is every sub-store of the port.
 */
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import type {
  ClusterNode,
  ClusterRecord,
  ClusterStore,
  CommandJournal,
  Incident,
  IncidentStore,
  JournalEntry,
  PoolChange,
  PoolNode,
  PoolStore,
  Store,
  StoreLock,
} from '../../../src/core/ports/store.js';
import type { WriteMove } from '../../../src/core/pool-move.js';
import { HOST_MAX, SOCK_MAX, parseSet, showType, toSet } from '../../../src/mysql/pool-store.js';
import { createMemoryAudit, createMemoryChangeJournal, createMemoryInteractions, memoryMoveWrite } from './ports.js';

const copy = <T>(v: T): T => structuredClone(v);

/** A cluster record as the store keeps it: defaults filled in, optional node fields only when given. */
function keptCluster(c: ClusterRecord): ClusterRecord {
  const nodes = c.nodes.map((n): ClusterNode => ({
    host: n.host,
    address: n.address,
    port: n.port,
    role: n.role,
    serverId: n.serverId,
    sandbox: n.sandbox,
    ...(n.replicatesFrom ? { replicatesFrom: n.replicatesFrom } : {}),
    ...(n.via ? { via: n.via } : {}),
  }));
  const state = c.state ?? 'ready';
  return {
    name: c.name,
    kind: c.kind ?? 'built',
    version: c.version,
    credentials: c.credentials,
    createdBy: c.createdBy,
    createdAt: new Date(),
    state,
    ...(state === 'installing' && c.installToken ? { installToken: c.installToken } : {}),
    nodes,
  };
}

/** Clusters in memory, by name. */
export function createMemoryClusters(): ClusterStore & { rows: Map<string, ClusterRecord> } {
  const rows = new Map<string, ClusterRecord>();
  return {
    rows,
    async create(c) {
      if (rows.has(c.name)) throw new GearopsError(ErrorCode.Conflict, `a cluster named ${c.name} already exists`);
      rows.set(c.name, keptCluster(c));
    },
    get: async (name) => copy(rows.get(name) ?? null),
    list: async () => copy([...rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))),
    remove: async (name) => rows.delete(name),
    async setNodes(name, nodes) {
      const c = rows.get(name);
      if (!c) return false;
      c.nodes = keptCluster({ ...c, nodes }).nodes;
      return true;
    },
    async markReady(name, version) {
      const c = rows.get(name);
      if (c?.state !== 'installing') return false;
      c.state = 'ready';
      c.version = version;
      delete c.installToken;
      return true;
    },
    async markRemoving(name) {
      const c = rows.get(name);
      if (!c) return false;
      c.state = 'removing';
      return true;
    },
  };
}

/** Incidents in memory: one open incident per node and kind, as the store's unique key allows. */
export function createMemoryIncidents(): IncidentStore & { rows: Incident[] } {
  const rows: Incident[] = [];
  const find = (id: number) => rows.find((r) => r.id === id);
  const PATCHABLE = ['errno', 'error', 'lag', 'alertChannel', 'alertTs', 'acknowledgedBy', 'pooledOut'] as const;
  return {
    rows,
    findOpen: async (cluster, host, port, kind) =>
      copy(
        rows.find(
          (r) => r.state === 'open' && r.cluster === cluster && r.host === host && r.port === port && r.kind === kind,
        ) ?? null,
      ),
    listOpen: async () => copy(rows.filter((r) => r.state === 'open')),
    get: async (id) => copy(find(id) ?? null),
    async open(i) {
      const cur = rows.find(
        (r) =>
          r.state === 'open' && r.cluster === i.cluster && r.host === i.host && r.port === i.port && r.kind === i.kind,
      );
      if (cur) return { incident: copy(cur), created: false };
      const made: Incident = {
        id: rows.length + 1,
        cluster: i.cluster,
        host: i.host,
        port: i.port,
        kind: i.kind,
        state: 'open',
        errno: i.errno,
        error: i.error,
        lag: i.lag,
        openedAt: new Date(),
        resolvedAt: null,
        alertChannel: null,
        alertTs: null,
        acknowledgedBy: null,
        pooledOut: false,
      };
      rows.push(made);
      return { incident: copy(made), created: true };
    },
    async update(id, patch) {
      const r = find(id);
      if (!r) return;
      for (const k of PATCHABLE) if (patch[k] !== undefined) Object.assign(r, { [k]: patch[k] });
    },
    async resolve(id, at) {
      const r = find(id);
      if (r?.state === 'open') {
        r.state = 'resolved';
        r.resolvedAt = new Date((at ?? new Date()).getTime());
      }
      return copy(r ?? null);
    },
  };
}

function checkSizes(host: string, sock = ''): void {
  if (host.length === 0 || host.length > HOST_MAX)
    throw new GearopsError(ErrorCode.Usage, `host \`${host.slice(0, 40)}\` must be 1..${HOST_MAX} characters`, {
      data: { host },
    });
  if (sock.length > SOCK_MAX)
    throw new GearopsError(ErrorCode.Usage, `sock must be at most ${SOCK_MAX} characters`, { data: { host } });
}

/** The load-balancer pool and its history in memory, with the MySQL pool store's rules. */
export function createMemoryPool(initial: PoolNode[] = []): PoolStore & {
  rows: Map<string, PoolNode>;
  changes: PoolChange[];
} {
  const key = (h: string, p: number) => `${h}:${p}`;
  const rows = new Map(initial.map((n) => [key(n.host, n.port), { ...n, type: parseSet(toSet(n.type)) }]));
  const changes: PoolChange[] = [];
  const move = memoryMoveWrite(rows);
  const record = (ch: PoolChange) => (changes.push({ ...ch, at: new Date() }), ch);
  const notFound = (host: string, port: number) =>
    new GearopsError(ErrorCode.NotFound, `${host}:${port} is not in the pool`, { data: { host, port } });
  const order = (a: PoolNode, b: PoolNode) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port);
  return {
    rows,
    changes,
    list: async () => copy([...rows.values()].sort(order)),
    get: async (host, port) => copy(rows.get(key(host, port)) ?? null),
    async add(node, actor, reason) {
      checkSizes(node.host, node.sock);
      const current = rows.get(key(node.host, node.port));
      if (current)
        throw new GearopsError(
          ErrorCode.Conflict,
          `${node.host}:${node.port} is already in the pool as ${showType(current.type)}`,
          { data: { host: node.host, port: node.port, current: copy(current) } },
        );
      const type = parseSet(toSet(node.type));
      rows.set(key(node.host, node.port), { host: node.host, port: node.port, sock: node.sock, type });
      return record({ host: node.host, port: node.port, before: null, after: [...type], actor, reason });
    },
    async set(host, port, type, actor, reason) {
      const cur = rows.get(key(host, port));
      if (!cur) throw notFound(host, port);
      const after = parseSet(toSet(type));
      const change: PoolChange = { host, port, before: cur.type, after, actor, reason };
      if (toSet(cur.type) === toSet(after)) return change;
      cur.type = [...after];
      return record(change);
    },
    async del(host, port, actor, reason) {
      const cur = rows.get(key(host, port));
      if (!cur) throw notFound(host, port);
      rows.delete(key(host, port));
      return record({ host, port, before: cur.type, after: null, actor, reason });
    },
    async moveWrite(m: WriteMove) {
      checkSizes(m.to.host, m.to.sock ?? '');
      return (await move(m)).map(record);
    },
    history: async (limit) =>
      copy(
        changes
          .slice()
          .reverse()
          .slice(0, Math.max(1, Math.min(10_000, Math.floor(limit)))),
      ),
  };
}

/** The commands journal in memory; `now` moves time for the staleness of silent instances. */
export function createMemoryCommands(opts: { now?: () => number } = {}): CommandJournal & {
  rows: Map<string, JournalEntry & { updatedAt: number }>;
} {
  const now = opts.now ?? Date.now;
  const rows = new Map<string, JournalEntry & { updatedAt: number }>();
  const strip = ({ updatedAt: _, ...e }: JournalEntry & { updatedAt: number }): JournalEntry => copy(e);
  return {
    rows,
    async accept(e) {
      if (rows.has(e.requestId))
        throw new GearopsError(ErrorCode.Conflict, `Duplicate entry '${e.requestId}' for key 'PRIMARY'`);
      rows.set(e.requestId, { ...e, messageTs: e.messageTs ?? null, jobHandle: null, updatedAt: now() });
    },
    async update(requestId, f) {
      const r = rows.get(requestId);
      if (!r) return;
      for (const k of ['state', 'messageTs', 'jobHandle'] as const)
        if (f[k] !== undefined) Object.assign(r, { [k]: f[k] });
      r.updatedAt = now();
    },
    async handOver(instance) {
      let n = 0;
      for (const r of rows.values())
        if (r.instance === instance && r.state !== 'done') {
          r.instance = `handed-over:${instance}`;
          r.updatedAt = now();
          n++;
        }
      return n;
    },
    async claim(instance, staleMs) {
      const taken: JournalEntry[] = [];
      for (const r of rows.values())
        if (
          r.instance !== instance &&
          r.state !== 'done' &&
          (r.instance.startsWith('handed-over:') || r.updatedAt < now() - staleMs)
        ) {
          r.instance = instance;
          r.updatedAt = now();
          taken.push(strip(r));
        }
      return taken;
    },
  };
}

/** The shared state of in-memory stores: what one MySQL database is to several bot instances. */
export function createMemoryDatabase() {
  const db = {
    audit: createMemoryAudit(),
    clusters: createMemoryClusters(),
    incidents: createMemoryIncidents(),
    pool: createMemoryPool(),
    interactions: createMemoryInteractions(),
    commands: createMemoryCommands(),
    changes: createMemoryChangeJournal(),
    /** Who holds each named lock: one lock handle at a time. */
    locks: new Map<string, object>(),
  };
  /** One bot instance's store on this database. */
  const open = (): Store => ({
    audit: db.audit,
    clusters: db.clusters,
    incidents: db.incidents,
    pool: db.pool,
    interactions: db.interactions,
    commands: db.commands,
    changes: db.changes,
    lock: (name) => memoryLock(db.locks, name),
    ping: async () => true,
    close: async () => undefined,
  });
  return { ...db, open };
}

/** A lock handle over `locks`: like GET_LOCK on a connection of its own, so two handles never share it. */
function memoryLock(locks: Map<string, object>, name: string): StoreLock {
  const me = {};
  return {
    get held() {
      return locks.get(name) === me;
    },
    async tryAcquire() {
      if (!locks.has(name)) locks.set(name, me);
      return locks.get(name) === me;
    },
    async release() {
      if (locks.get(name) === me) locks.delete(name);
    },
  };
}

/** A whole store in memory (one instance on a database of its own). */
export function createMemoryStore(): Store {
  return createMemoryDatabase().open();
}
