/** The install sequence's types (src/cluster/install.ts runs it, build.ts builds its nodes): its ports, a run, a view. */
import type { ClusterRecord, ClusterStore, PoolStore } from '../core/ports/store.js';
import type { ReplicationProbe } from '../core/ports/replication.js';
import type { ClusterCredentials, ClusterCredentialStore } from '../core/ports/credentials.js';
import type { RunJob } from './jobs.js';
import type { AnnouncePool } from './pool.js';

/** One node of an install as shown: its host, role, port and what it is doing. */
export type NodeState = { host: string; role: 'master' | 'replica'; port: number; state: string; ok?: boolean };

/** Where a cluster's own passwords are kept, and how they travel sealed for one job. */
export interface CredentialPorts {
  store: ClusterCredentialStore;
  seal(jobId: string, plaintext: string): string;
  /** Sandboxes whose every address is loopback get the well-known demo accounts instead. */
  demo: boolean;
}

/** What the install sequence runs over. */
export interface InstallPorts {
  clusters: ClusterStore;
  probe: Pick<ReplicationProbe, 'verifyReplication'>;
  run: RunJob;
  credentials?: CredentialPorts;
  /** Name recorded as where the sandbox credentials live (never the password). */
  credentialsName?: string;
  pool?: PoolStore;
  announce: AnnouncePool;
  installTimeoutMs: number;
  /** Tokens of the installs this process runs (a removal leaves those alone); the sequence adds and deletes its own. */
  installingHere: Set<string>;
  /** Who asked (recorded as the creator, and in the pool's changes). */
  userId: string;
}

/** The cluster to install: master and replica hosts, the version asked for, and whether it joins the pool. */
export interface InstallSpec {
  cluster: string;
  master: string;
  replicas: string[];
  version?: string;
  pool: boolean;
}

/** One install as it goes: what was recorded, and each node's state (shown by the view, changed by the steps). */
export interface InstallRun {
  spec: InstallSpec;
  record: ClusterRecord;
  /** Names this install's jobs, so that when one node fails the others can be told to stop (sandbox.cancel). */
  token: string;
  creds: ClusterCredentials;
  version: string;
  basePort: number;
  /** The master's address, known from its check, so the replicas are built at the same time as the master. */
  masterAddress: string;
  nodes: NodeState[];
  /** Nodes built so far: removed when the install fails. */
  made: Array<{ host: string; name: string }>;
}

/** Shows an install's progress; `open` failing ends the install with nothing built. */
export interface InstallView {
  open(status: string): Promise<void>;
  /** Never fails; unless forced, at most one update every so often. */
  push(status: string, force?: boolean): void;
  close(status: string): Promise<void>;
}
