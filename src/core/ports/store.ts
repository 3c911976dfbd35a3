/** The store port: the "common" MySQL database. src/mysql implements it. */
import type { CommandStatus } from './commands.js';
import type { ChangeJournal, CommandJournal } from './journals.js';

export type * from './journals.js';

/** One audit row: every command and button, whatever the outcome. */
export interface AuditEntry {
  source: 'slack' | 'console' | 'monitor';
  userId: string;
  channelId: string;
  /** 'run', 'replica', 'pool', or an action id for buttons. */
  command: string;
  text: string;
  decision: 'allow' | 'deny';
  rule?: string | null;
  status: CommandStatus;
  host?: string | null;
  jobHandle?: string | null;
  exitCode?: number | null;
  durationMs?: number | null;
  outputBytes?: number | null;
  requestId?: string | null;
  summary?: string | null;
  /** How long ago it happened, when the row is written late (after a store outage); default now. */
  ageMs?: number;
}

/** Audit rows with their time, as read back. */
export interface AuditRow extends AuditEntry {
  id: number;
  at: Date;
}

/** Writes the audit trail. */
export interface AuditStore {
  record(entry: AuditEntry): Promise<void>;
  recent(limit: number): Promise<AuditRow[]>;
}

/** A node of a replication cluster the bot installed. */
export interface ClusterNode {
  host: string;
  /** Address other hosts use to reach this node (the worker's --advertise). */
  address: string;
  port: number;
  role: 'master' | 'replica';
  serverId: number;
  /** The sandbox's name on its host; empty for a watched cluster's servers. */
  sandbox: string;
  /** address:port of the server it replicates from, when recorded (watched clusters; intermediate masters). */
  replicatesFrom?: string;
  /** Read through the worker on this host (mysql.status) instead of directly: a watched server's closed port. */
  via?: string;
}

/** Where a cluster is in its life. */
export type ClusterState = 'installing' | 'ready' | 'removing';

/**
 * 'built': sandboxes gearops made and may delete. 'watched': adopted from one address (/replica watch); never
 * deleted or wiped, only forgotten (/replica unwatch).
 */
export type ClusterKind = 'built' | 'watched';

/** A replication cluster as recorded in the store. */
export interface ClusterRecord {
  name: string;
  /** Default 'built'. */
  kind?: ClusterKind;
  version: string;
  /** Where the sandbox credentials live (a name, never the password itself). */
  credentials: string;
  createdBy: string;
  createdAt?: Date;
  nodes: ClusterNode[];
  /**
   * 'installing' while /replica install builds it (the record is written first); 'ready' once replication is
   * proven (the default); 'removing' once /replica remove starts stopping its servers (and after a removal
   * that did not finish). Only ready clusters are monitored.
   */
  state?: ClusterState;
  /** While installing: the token of the install's jobs on the workers (what sandbox.cancel names). */
  installToken?: string;
}

/** Clusters the bot knows. */
export interface ClusterStore {
  /** Throws gearops_conflict when a cluster of that name exists. */
  create(cluster: ClusterRecord): Promise<void>;
  get(name: string): Promise<ClusterRecord | null>;
  list(): Promise<ClusterRecord[]>;
  /** True when a record was removed. */
  remove(name: string): Promise<boolean>;
  /** Replaces a cluster's nodes (a watched cluster's topology changed); false when its record is gone. */
  setNodes(name: string, nodes: ClusterNode[]): Promise<boolean>;
  /** An installing cluster is built: ready, with the version its master runs. False when its record is gone (removed meanwhile). */
  markReady(name: string, version: string): Promise<boolean>;
  /** /replica remove is stopping its servers: no longer monitored. False when its record is gone. */
  markRemoving(name: string): Promise<boolean>;
}

/** What went wrong with a node. */
export type IncidentKind = 'io_stopped' | 'sql_stopped' | 'lag' | 'unreachable' | 'master_lost';

/** A broken-replica incident and its alert thread. */
export interface Incident {
  id: number;
  cluster: string;
  host: string;
  port: number;
  kind: IncidentKind;
  state: 'open' | 'resolved';
  errno: number | null;
  error: string | null;
  /** Seconds behind, for lag incidents. */
  lag: number | null;
  openedAt: Date;
  resolvedAt: Date | null;
  alertChannel: string | null;
  /** ts of the parent message: the thread. */
  alertTs: string | null;
  acknowledgedBy: string | null;
  /** Whether the monitor took the node out of the pool for this incident. */
  pooledOut: boolean;
}

/** Incident state, one open incident per node and kind at most. */
export interface IncidentStore {
  findOpen(cluster: string, host: string, port: number, kind: IncidentKind): Promise<Incident | null>;
  listOpen(): Promise<Incident[]>;
  get(id: number): Promise<Incident | null>;
  /** Opens an incident; returns the existing open one instead if there is one (never two). */
  open(
    i: Pick<Incident, 'cluster' | 'host' | 'port' | 'kind' | 'errno' | 'error' | 'lag'>,
  ): Promise<{ incident: Incident; created: boolean }>;
  update(
    id: number,
    patch: Partial<
      Pick<Incident, 'errno' | 'error' | 'lag' | 'alertChannel' | 'alertTs' | 'acknowledgedBy' | 'pooledOut'>
    >,
  ): Promise<void>;
  resolve(id: number, at?: Date): Promise<Incident | null>;
}

/** A server's role in the load-balancer pool: READ, WRITE, both, or none (offline). */
export type PoolRole = 'READ' | 'WRITE';

/** A row of common.nodes. */
export interface PoolNode {
  host: string;
  port: number;
  sock: string;
  /** Empty: offline. */
  type: PoolRole[];
}

/** One change of the pool, for history and announcements. */
export interface PoolChange {
  host: string;
  port: number;
  before: PoolRole[] | null;
  after: PoolRole[] | null;
  actor: string;
  reason: string;
  at?: Date;
}

/** What a master change asks of the pool. */
export interface WriteMove {
  /** Every server of the cluster (address:port as in the pool): none but `to` keeps WRITE. */
  cluster: Array<{ host: string; port: number }>;
  /** The new master: READ,WRITE after (added with `sock`, default '', when it is not in the pool). */
  to: { host: string; port: number; sock?: string };
  /** The old master, when known. */
  from?: { host: string; port: number } | null;
  /** What the old master becomes: roles without WRITE (switchover: READ), or 'out' of the pool (failover). */
  fromAfter: PoolRole[] | 'out';
  actor: string;
  reason: string;
}

/** The load-balancer pool (common.nodes) and its history. */
export interface PoolStore {
  list(): Promise<PoolNode[]>;
  get(host: string, port: number): Promise<PoolNode | null>;
  /** Throws gearops_conflict (data.current) when the server is already in the pool. */
  add(node: PoolNode, actor: string, reason: string): Promise<PoolChange>;
  /** Throws gearops_not_found for an unknown server. */
  set(host: string, port: number, type: PoolRole[], actor: string, reason: string): Promise<PoolChange>;
  del(host: string, port: number, actor: string, reason: string): Promise<PoolChange>;
  /**
   * Moves a cluster's WRITE in one transaction (src/core/pool-move.ts plans it): the new master READ,WRITE (added
   * when absent), the old one READ or out, every other server of the cluster without WRITE. Readers never see
   * two WRITE servers of the cluster. Returns the changes made, in order (none when the pool already is so).
   */
  moveWrite(move: WriteMove): Promise<PoolChange[]>;
  history(limit: number): Promise<PoolChange[]>;
}

/** A cluster-wide lock (MySQL GET_LOCK), held on its own connection. */
export interface StoreLock {
  /** Tries to take the lock, or checks that it still holds it; true when this process holds it. */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
  /** True while the lock's connection is alive and held. */
  readonly held: boolean;
}

/** Why a confirmation press was or was not taken. */
export type ConfirmationPress = 'ok' | 'not_yours' | 'answered' | 'expired' | 'unknown';

/**
 * What several bot instances share about Slack's requests: Slack may send a command's retry, a replay, or a button
 * press to another instance than the one that took the command (HTTP behind a balancer; Socket Mode spreads events
 * over every open connection), and a restarted instance remembers nothing of its own.
 */
export interface InteractionStore {
  /** Records request keys; false when any of them was recorded before (a retry or replay of a taken request). */
  claim(keys: readonly string[]): Promise<boolean>;
  /** A confirmation asked of `userId` is open for `ttlMs`. */
  openConfirmation(id: string, userId: string, ttlMs: number): Promise<void>;
  /**
   * Answers an open confirmation, once: 'ok', or why not (someone else's question, answered before, expired,
   * unknown). `askedOf` is whom it was asked of, when known.
   */
  answerConfirmation(id: string, userId: string, yes: boolean): Promise<{ press: ConfirmationPress; askedOf?: string }>;
  /**
   * The asker takes the answer, once: the answer given, else null while open; `final` (the wait is over) takes
   * "no" when nobody answered, so that a later press is refused as answered.
   */
  settleConfirmation(id: string, final: boolean): Promise<boolean | null>;
  /** What the asker acted on (settleConfirmation); null while it has not taken an answer. */
  confirmationTaken(id: string): Promise<boolean | null>;
  /** One command of `userId` within `limit` per `windowMs`, counted over every instance: 0, or ms to wait. */
  takeRate(userId: string, limit: number, windowMs: number): Promise<number>;
}

/** The whole store. */
export interface Store {
  audit: AuditStore;
  clusters: ClusterStore;
  incidents: IncidentStore;
  pool: PoolStore;
  interactions: InteractionStore;
  /** Accepted commands, for restarts and other instances (absent in stores without migration 4). */
  commands?: CommandJournal;
  /** Topology changes (switchover, failover, rejoin), for finishing and explaining them (migration 7). */
  changes?: ChangeJournal;
  /** A named advisory lock (e.g. 'gearops.monitor'). */
  /** A named lock held by one process at a time; a holder silent for `idleTimeoutS` (default 60) loses it. */
  lock(name: string, opts?: { idleTimeoutS?: number }): StoreLock;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
