/**
 * The store's two journals: accepted commands (so a restarted bot or another instance finishes them) and topology
 * changes (so a cut switchover or failover can be explained and finished). Part of the store port (store.ts).
 */
/** Where an accepted command stands: all but done are in flight. */
export type JournalState = 'accepted' | 'queued' | 'running' | 'done';

/** One accepted command, as journaled before its job is submitted. */
export interface JournalEntry {
  requestId: string;
  /** The bot instance that accepted it. */
  instance: string;
  command: string;
  text: string;
  userId: string;
  channelId: string;
  host: string | null;
  /** The signed job's id (the worker answers a re-sent job of this id with that job's output). */
  jobId: string | null;
  jobHandle: string | null;
  messageTs: string | null;
  state: JournalState;
}

/** The journal of accepted commands (table `commands`). */
export interface CommandJournal {
  /** Records a command as accepted (or queued) before its job is submitted. */
  accept(e: Omit<JournalEntry, 'jobHandle' | 'messageTs'> & { messageTs?: string | null }): Promise<void>;
  /** Moves a command on: its state, its message, its job handle. */
  update(requestId: string, fields: Partial<Pick<JournalEntry, 'state' | 'messageTs' | 'jobHandle'>>): Promise<void>;
  /** Marks what `instance` still has in flight as handed over (at shutdown), keeping its state; returns how many. */
  handOver(instance: string): Promise<number>;
  /**
   * Takes over, for `instance`, the commands other instances handed over (or left in flight and went quiet for
   * `staleMs`), and returns them as they were.
   */
  claim(instance: string, staleMs: number): Promise<JournalEntry[]>;
}

/** A change of a cluster's master. */
export type TopologyChangeKind = 'switchover' | 'failover' | 'rejoin';

/** Where a change stands: running until it ends one of the three other ways. */
export type TopologyChangeState = 'running' | 'done' | 'failed' | 'rolled_back';

/** One step of a change as it happened (the thread shows the same). */
export interface TopologyChangeStep {
  step: string;
  at: Date;
  note?: string;
}

/** One topology change, as journaled from before its first step to its end. */
export interface TopologyChange {
  id: number;
  cluster: string;
  kind: TopologyChangeKind;
  /** address:port of the master it moves from (rejoin: the node that rejoins). */
  from: string;
  /** address:port of the new master (rejoin: the master it rejoins). */
  to: string;
  /** The step it is at (or ended at). */
  step: string;
  state: TopologyChangeState;
  actor: string;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** Every step so far, oldest first. */
  steps: TopologyChangeStep[];
  /** What the steps need to finish or explain it (positions, the thread, what was rolled back), JSON-able. */
  detail: Record<string, unknown>;
}

/**
 * The journal of topology changes (table `topology_changes`): written before the first step and at every step,
 * so a change cut half-way (the bot killed) can be explained by /replica status and finished by running the command
 * again. At most one running change per cluster.
 */
export interface ChangeJournal {
  /** Records a running change; throws gearops_conflict (data.current: the running one) when the cluster has one. */
  begin(c: {
    cluster: string;
    kind: TopologyChangeKind;
    from: string;
    to: string;
    actor: string;
    step: string;
    detail?: Record<string, unknown>;
  }): Promise<TopologyChange>;
  /** A running change moves to `step`: appended to its steps (with `note`), `detail` merged in (top-level keys). */
  step(id: number, step: string, opts?: { note?: string; detail?: Record<string, unknown> }): Promise<void>;
  /** Ends a running change (idempotent on an ended one: false, nothing changed). */
  finish(
    id: number,
    state: Exclude<TopologyChangeState, 'running'>,
    opts?: { note?: string; detail?: Record<string, unknown> },
  ): Promise<boolean>;
  /** The cluster's running change, if any. */
  running(cluster: string): Promise<TopologyChange | null>;
  get(id: number): Promise<TopologyChange | null>;
  /** The cluster's latest changes, newest first. */
  recent(cluster: string, limit: number): Promise<TopologyChange[]>;
}
