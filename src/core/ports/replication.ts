/** The port to replication state on the nodes themselves; src/mysql/replication.ts implements it. */
import type { Requester } from '../payload.js';

/** How to reach one node. */
export interface NodeAddress {
  address: string;
  port: number;
  /** The credentials entry to log in with (a watched cluster's); absent: the probe's own sandbox credentials. */
  credentials?: string;
  /** Read through the worker on this host (mysql.status@via) instead of directly. */
  via?: string;
  /** The cluster the node belongs to (a built one): whose credentials the probe logs in with. */
  cluster?: string;
}

/**
 * How `exec` runs a statement. `readOnly`: as the cluster's read-only account (a watched cluster's named one),
 * in a read-only transaction the server ends after `maxStatementTimeS` (what /replica sql must pass). Past
 * `timeoutMs` the statement is ended on the server with KILL QUERY and fails with gearops_job_timeout.
 */
export interface ExecOptions {
  readOnly?: boolean;
  /** The server ends the statement after this many seconds (max_statement_time); default the time-out. */
  maxStatementTimeS?: number;
  timeoutMs?: number;
  /** Who asked: a node read through its host's worker is acted on as them, under that worker's own policy. */
  requester?: Requester;
}

/** How a repair (the alert buttons) is done: for whom, when it goes through the node's host worker. */
export interface RepairOptions {
  requester?: Requester;
}

/** What one node says about itself and its replication threads. */
export interface NodeStatus {
  reachable: boolean;
  error?: string;
  version?: string;
  flavour?: 'mariadb' | 'mysql';
  readOnly?: boolean;
  isReplica: boolean;
  /** MariaDB also says Preparing: connected, registering with the master. */
  ioRunning?: 'Yes' | 'No' | 'Connecting' | 'Preparing' | null;
  sqlRunning?: 'Yes' | 'No' | null;
  secondsBehind: number | null;
  lastIoErrno: number | null;
  lastIoError: string | null;
  lastSqlErrno: number | null;
  lastSqlError: string | null;
  masterHost?: string;
  masterPort?: number;
  gtid?: string | null;
  binlogFile?: string | null;
  binlogPos?: number | null;
}

/** The status of a node that could not be read: `error` says what happened. */
export function unreachableStatus(error: string): NodeStatus {
  return {
    reachable: false,
    error,
    isReplica: false,
    secondsBehind: null,
    lastIoErrno: null,
    lastIoError: null,
    lastSqlErrno: null,
    lastSqlError: null,
  };
}

/** Reads and repairs replication on nodes. */
export interface ReplicationProbe {
  status(node: NodeAddress): Promise<NodeStatus>;
  /** Runs `sql` as the admin account, or read-only with `opts.readOnly` (what /replica sql must pass). */
  exec(node: NodeAddress, sql: string, opts?: ExecOptions): Promise<{ columns: string[]; rows: string[][] }>;
  /** Writes a unique marker on the master and reads it back on every replica. */
  verifyReplication(
    master: NodeAddress,
    replicas: NodeAddress[],
    opts?: { timeoutMs?: number },
  ): Promise<Array<{ node: NodeAddress; ok: boolean; detail: string }>>;
  startReplication(node: NodeAddress, opts?: RepairOptions): Promise<void>;
  stopReplication(node: NodeAddress, thread?: 'io' | 'sql'): Promise<void>;
  skipOneEvent(node: NodeAddress, opts?: RepairOptions): Promise<void>;
  close(): Promise<void>;
}
