/**
 * The parts of a switchover that a fresh run and a finished (resumed) one share: reading the nodes, journaling
 * and telling steps, repointing a node, and rolling back what was done (see switchover.ts for the sequence).
 */
import type { NodeAddress, ReplicationProbe } from '../core/ports/replication.js';
import type { ReplicationControl } from '../core/ports/replication-control.js';
import type {
  ChangeJournal,
  ClusterNode,
  ClusterRecord,
  ClusterStore,
  PoolChange,
  PoolStore,
} from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { gtidMissing, parseGtidPosition } from '../core/gtid.js';
import { nodeKey, type NodeReading, type SwitchoverPlan } from './switchover-plan.js';

/** What a switchover runs on. */
export interface SwitchoverDeps {
  control: ReplicationControl;
  verify: ReplicationProbe['verifyReplication'];
  journal: ChangeJournal;
  clusters: Pick<ClusterStore, 'setNodes'>;
  pool?: PoolStore;
  /** Posts one line in the change's thread; never throws. */
  say(line: string): Promise<void>;
  /** Announces a pool change in the pool channel; never throws. */
  announcePool?(ch: PoolChange): Promise<void>;
  /** Who asked (pool changes are made in their name). */
  actor: string;
  /** switchover_timeout_s: writers' and catching up's limit. */
  timeoutS: number;
  now?: () => number;
}

/** How a switchover ended, and what state everything is in. */
export interface SwitchoverResult {
  state: 'done' | 'failed' | 'rolled_back';
  changeId: number;
  /** One paragraph: what happened and where every node stands. */
  summary: string;
  durationMs: number;
  pool: PoolChange[];
}

/**
 * Reads every node's GTID state (those that do not answer carry the error; so does one the control cannot change,
 * such as a node whose host's worker does no topology changes: refused up front, before any step).
 */
export async function readCluster(control: ReplicationControl, c: ClusterRecord): Promise<NodeReading[]> {
  return Promise.all(
    c.nodes.map(async (node): Promise<NodeReading> => {
      try {
        const cannot = await control.problem?.(nodeAddress(c, node));
        if (cannot) return { node, error: cannot };
        return { node, state: await control.gtidState(nodeAddress(c, node)) };
      } catch (err) {
        return { node, error: (err as Error).message };
      }
    }),
  );
}

/** What has been done so far: what a rollback must undo. */
export interface Progress {
  masterReadOnly: boolean;
  promoted: boolean;
  repointed: ClusterNode[];
  /** The old master's binlog position once it was read-only: what the target had to reach. */
  position?: string;
}

export const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Steps shared by a fresh run and a resumed one. */
export function stepper(deps: SwitchoverDeps, c: ClusterRecord, id: number) {
  const now = deps.now ?? Date.now;
  const at = (n: ClusterNode): NodeAddress => nodeAddress(c, n);
  let last = now();
  return {
    at,
    now,
    /** Journals `name` (the step about to run) with what it will do. */
    async begin(name: string, note: string, detail?: Record<string, unknown>) {
      last = now();
      await deps.journal.step(id, name, { note, ...(detail ? { detail } : {}) });
    },
    /** Tells the thread a step ended (its time, how long it took). */
    async told(line: string) {
      const t = now();
      await deps.say(`${clock(t)} ${line} (${t - last} ms)`);
    },
  };
}

/** Points `n` at `master` and starts its replication. */
export async function repoint(deps: SwitchoverDeps, a: NodeAddress, master: ClusterNode, fromBinlog: boolean) {
  await deps.control.pointAt(a, { address: master.address, port: master.port }, { slavePosFromBinlog: fromBinlog });
  await deps.control.startReplication(a);
}

/**
 * Undoes what `p` says was done, newest first: repointed nodes back to the old master, the target read-only and a
 * replica again (only when it holds nothing the old master lacks), then the old master writable. Returns the state.
 */
export async function rollBack(
  deps: SwitchoverDeps,
  c: ClusterRecord,
  plan: Pick<SwitchoverPlan, 'master' | 'target'>,
  p: Progress,
): Promise<{ ok: boolean; notes: string[] }> {
  const at = (n: ClusterNode) => nodeAddress(c, n);
  const notes: string[] = [];
  const { master, target } = plan;
  let ok = true;
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      notes.push(`${what}: done`);
      return true;
    } catch (err) {
      ok = false;
      notes.push(`${what}: FAILED (${(err as Error).message})`);
      return false;
    }
  };
  if (p.promoted) {
    // The target holds nothing the old master lacks (else it stays the master), and is read-only before the old
    // master is writable: never two writable masters.
    const extra = async () => {
      const ts = await deps.control.gtidState(at(target)).catch(() => null);
      if (!ts) return [`(${nodeKey(target)} does not answer)`];
      return p.position ? gtidMissing(parseGtidPosition(p.position), parseGtidPosition(ts.binlogPos)) : [];
    };
    const stays = (x: string[]) => ({
      ok: false,
      notes: [
        ...notes,
        `${nodeKey(target)} has transactions the old master lacks (${x.join(', ')}): it stays the master, ` +
          `${nodeKey(master)} stays read-only`,
      ],
    });
    const before = await extra();
    if (before.length) return stays(before);
    if (!(await attempt(`${nodeKey(target)} read_only=1`, () => deps.control.setReadOnly(at(target), true))))
      return { ok: false, notes: [...notes, `${nodeKey(master)} left read-only: ${nodeKey(target)} may be writable`] };
    const late = await extra();
    if (late.length) {
      await deps.control.setReadOnly(at(target), false).catch(() => undefined);
      return stays(late);
    }
  }
  for (const n of p.repointed) {
    if (nodeKey(n) === nodeKey(master))
      await attempt(`${nodeKey(n)} replication removed`, () => deps.control.detachReplication(at(n)));
    else await attempt(`${nodeKey(n)} pointed back at ${nodeKey(master)}`, () => repoint(deps, at(n), master, false));
  }
  if (p.promoted)
    await attempt(`${nodeKey(target)} pointed back at ${nodeKey(master)}`, () =>
      repoint(deps, at(target), master, false),
    );
  if (p.masterReadOnly && ok)
    await attempt(`${nodeKey(master)} read_only=0 (writable again)`, () => deps.control.setReadOnly(at(master), false));
  else if (p.masterReadOnly) notes.push(`${nodeKey(master)} left read-only, as something above failed`);
  return { ok, notes };
}
