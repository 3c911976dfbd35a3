/**
 * The port for changing a topology (switchover, failover, rejoin): read a node's GTID state, make it read-only or
 * writable, end its writers, wait for a position, detach it, point it at a master. src/mysql/replication-control.ts
 * implements it on MariaDB (GTID replication only). Every statement is fixed; the adapter checks or escapes every
 * value it is given, so nothing a user typed is spliced into SQL.
 */
import type { DbAccount } from './credentials.js';
import type { NodeAddress } from './replication.js';
import type { Requester } from '../payload.js';

/** The topology change a control acts for (what a node's host worker checks in its own policy). */
export type ControlAction = 'replica.switchover' | 'replica.failover' | 'replica.rejoin';

/** One node's replication state, as a topology change needs it. Read from a node that answered. */
export interface GtidState {
  serverId: number;
  /** @@gtid_binlog_pos: the last GTID of each domain in its binary log (what it would serve as a master). */
  binlogPos: string;
  /** @@gtid_current_pos: binlog or slave position, whichever is later per domain. */
  currentPos: string;
  /** @@gtid_slave_pos: the last GTID its replication applied. */
  slavePos: string;
  /** Gtid_IO_Pos: the last GTID its IO thread received (relay log included); absent when not a replica. */
  ioPos?: string;
  /**
   * @@gtid_binlog_state: the last GTID of each domain *and server* in its binary log: what it holds of each
   * server's history (a rejoin's containment check sees a fork below the position with it).
   */
  binlogState?: string;
  readOnly: boolean;
  /** @@log_bin and @@log_slave_updates: a new master needs both for the others to find their position in it. */
  logBin: boolean;
  logSlaveUpdates: boolean;
  /** It has a master configured (a SHOW SLAVE STATUS row), running or not. */
  replicating: boolean;
  /** Where it replicates from, when it does. */
  master?: { host: string; port: number };
  /** The account it logs in to its master with (never its password). */
  masterUser?: string;
  /** Using_Gtid: 'Slave_Pos', 'Current_Pos' or 'No'; null when not a replica. */
  usingGtid: string | null;
  ioRunning: string | null;
  sqlRunning: string | null;
  secondsBehind: number | null;
  lastIoError: string | null;
  lastSqlError: string | null;
  /**
   * Bytes received but not yet applied (Read_Master_Log_Pos − Exec_Master_Log_Pos when both are in the same master
   * file, else Relay_Log_Space); 0 when not a replica.
   */
  relayBacklog: number;
}

/** How `pointAt` makes a node a replica. */
export interface PointAtOptions {
  /**
   * The account to log in to the master with. Default: the node's current one when it has a master configured,
   * else the cluster's replication account (a built cluster's from the credentials store; a watched cluster's
   * `replication:` of its credentials file entry); without one it throws gearops_config.
   */
  account?: DbAccount;
  /**
   * Set @@gtid_slave_pos to @@gtid_binlog_pos first: for a node that was a master (its own writes are in its
   * binlog, not in its slave position), so that it asks the new master for what comes after them.
   */
  slavePosFromBinlog?: boolean;
}

/** What `killWriters` ended. */
export interface KilledConnections {
  /** Connection ids killed (client connections only: never replication or system threads, nor the adapter's own). */
  ids: number[];
  /** Ids still present when the wait ended (a connection stuck in its kill). */
  lingering: number[];
}

/** Changes replication on nodes. Throws GearopsError (gearops_store for the server's errors, naming the node). */
export interface ReplicationControl {
  /** Reads the node's GTID state; throws when it does not answer. */
  gtidState(node: NodeAddress): Promise<GtidState>;
  /**
   * SET GLOBAL read_only. Turning it on waits for running commits (the server's global read lock), at most
   * `timeoutMs` (default 10 s), then fails: nothing changed.
   */
  setReadOnly(node: NodeAddress, on: boolean, opts?: { timeoutMs?: number }): Promise<void>;
  /**
   * Kills every client connection that could still write (all but replication, system and the adapter's own
   * threads) and waits, at most `timeoutMs` (default 5 s), until they are gone.
   */
  killWriters(node: NodeAddress, opts?: { timeoutMs?: number }): Promise<KilledConnections>;
  /** MASTER_GTID_WAIT(position, timeout): true once the node applied `position`, false at the time-out. */
  waitForGtid(node: NodeAddress, position: string, timeoutMs: number): Promise<boolean>;
  /** STOP SLAVE; RESET SLAVE ALL: it no longer replicates, and forgets its master. Harmless on a non-replica. */
  detachReplication(node: NodeAddress): Promise<void>;
  /**
   * STOP SLAVE, then CHANGE MASTER TO the master's address and port, MASTER_USE_GTID=slave_pos (see
   * PointAtOptions for the account). It does not start replication.
   */
  pointAt(node: NodeAddress, master: { address: string; port: number }, opts?: PointAtOptions): Promise<void>;
  /**
   * True when a replication account is configured for the node's cluster (what pointAt gives a node without one).
   * Optional: a control without it is taken to have one (pointAt then says so if it has not).
   */
  hasReplicationAccount?(node: NodeAddress): boolean;
  /** START SLAVE. */
  startReplication(node: NodeAddress): Promise<void>;
  /**
   * The same control acting for `requester`, as a step of `action`: a node read through its host's worker
   * (NodeAddress.via) is changed there, under that worker's own policy for them. Optional: a control that only
   * connects directly needs no one (see `controlFor`). Closing the control it gives closes nothing.
   */
  forRequester?(requester: Requester, action: ControlAction): ReplicationControl;
  /**
   * Why this control cannot change `node` at all (its host's worker is not there, or does not do topology changes),
   * naming the node and the worker; null when it can. Optional: a direct control can always try.
   */
  problem?(node: NodeAddress): Promise<string | null>;
  close(): Promise<void>;
}

/** `control` acting for `requester` as a step of `action` (itself when it routes nothing). */
export function controlFor(
  control: ReplicationControl,
  requester: Requester,
  action: ControlAction,
): ReplicationControl {
  return control.forRequester?.(requester, action) ?? control;
}
