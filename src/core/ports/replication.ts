/** The port to replication state on the nodes themselves; src/mysql/replication.ts implements it. */

/** How to reach one node. */
export interface NodeAddress {
  address: string;
  port: number;
  /** The cluster the node belongs to: whose credentials the probe logs in with. */
  cluster?: string;
}

/** How /replica sql runs a statement: as the cluster's read-only account, in a read-only transaction. */
export interface ReadOnlyExec {
  readOnly: true;
  /** The server ends the statement after this many seconds (max_statement_time). */
  maxStatementTimeS: number;
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

/** Reads and repairs replication on nodes. */
export interface ReplicationProbe {
  status(node: NodeAddress): Promise<NodeStatus>;
  /** Runs `sql` as the admin account, or with `opts` as the read-only account (what /replica sql must pass). */
  exec(node: NodeAddress, sql: string, opts?: ReadOnlyExec): Promise<{ columns: string[]; rows: string[][] }>;
  /** Writes a unique marker on the master and reads it back on every replica. */
  verifyReplication(
    master: NodeAddress,
    replicas: NodeAddress[],
    opts?: { timeoutMs?: number },
  ): Promise<Array<{ node: NodeAddress; ok: boolean; detail: string }>>;
  startReplication(node: NodeAddress): Promise<void>;
  stopReplication(node: NodeAddress, thread?: 'io' | 'sql'): Promise<void>;
  skipOneEvent(node: NodeAddress): Promise<void>;
  close(): Promise<void>;
}
