/**
 * The planned change of a cluster's master (/replica switchover), as plain steps over the ports, each journaled
 * before it runs and told in the thread when it ends:
 *   1 old master read_only=1, writers that bypass it killed;  2 target catches up to the old master's position;
 *   3 target promoted (replication reset, read_only=0);  4 every other node, the old master too, pointed at it;
 *   5 a write on the new master read back everywhere;  6 WRITE moved in the pool (one transaction);  7 record.
 * Invariants at every instant: the target is made writable only once the old master is read-only and the target
 * holds everything it wrote, and made read-only again (rollback) before the old master is writable again; the pool
 * move is one transaction. A failure before step 5 rolls back; from step 5 on, the new master holds writes the
 * old one lacks, so it goes forward and says what is left. A change cut half-way (the bot died) is finished from the
 * journal and the nodes' real state by resumeSwitchover.
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
  TopologyChange,
} from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { gtidContains, gtidMissing, parseGtidPosition } from '../core/gtid.js';
import { nodeKey, switchedNodes, type NodeReading, type SwitchoverPlan } from './switchover-plan.js';

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

/** Reads every node's GTID state (those that do not answer carry the error). */
export async function readCluster(control: ReplicationControl, c: ClusterRecord): Promise<NodeReading[]> {
  return Promise.all(
    c.nodes.map(async (node): Promise<NodeReading> => {
      try {
        return { node, state: await control.gtidState(nodeAddress(c, node)) };
      } catch (err) {
        return { node, error: (err as Error).message };
      }
    }),
  );
}

/** What has been done so far: what a rollback must undo. */
interface Progress {
  masterReadOnly: boolean;
  promoted: boolean;
  repointed: ClusterNode[];
  /** The old master's binlog position once it was read-only: what the target had to reach. */
  position?: string;
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Steps shared by a fresh run and a resumed one. */
function stepper(deps: SwitchoverDeps, c: ClusterRecord, id: number) {
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
async function repoint(deps: SwitchoverDeps, a: NodeAddress, master: ClusterNode, fromBinlog: boolean) {
  await deps.control.pointAt(a, { address: master.address, port: master.port }, { slavePosFromBinlog: fromBinlog });
  await deps.control.startReplication(a);
}

/**
 * Undoes what `p` says was done, newest first: repointed nodes back to the old master, the target read-only and a
 * replica again (only when it holds nothing the old master lacks), then the old master writable. Returns the state.
 */
async function rollBack(
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

/** Runs a planned switchover from its first step; `changeId` is its journal row (begun by the caller). */
export async function runSwitchover(
  deps: SwitchoverDeps,
  c: ClusterRecord,
  plan: SwitchoverPlan,
  changeId: number,
): Promise<SwitchoverResult> {
  const s = stepper(deps, c, changeId);
  const started = s.now();
  const { master, target } = plan;
  const p: Progress = { masterReadOnly: false, promoted: false, repointed: [] };
  const limitMs = deps.timeoutS * 1000;
  const fail = async (why: string): Promise<SwitchoverResult> => {
    const r = await rollBack(deps, c, plan, p);
    const state = r.ok ? 'rolled_back' : 'failed';
    const summary = `${why}. Rollback: ${r.notes.join('; ') || 'nothing to undo'}. ${
      r.ok ? `${nodeKey(master)} is the master again, writable; nothing else changed.` : 'Look at /replica status.'
    }`;
    await deps.say(`${clock(s.now())} ✗ ${summary}`);
    await deps.journal.finish(changeId, state, { note: summary, detail: { rollback: r.notes } });
    return { state, changeId, summary, durationMs: s.now() - started, pool: [] };
  };
  try {
    await s.begin('read_only', `${nodeKey(master)} read_only=1, then writers that bypass it killed`);
    await deps.control.setReadOnly(s.at(master), true, { timeoutMs: limitMs });
    p.masterReadOnly = true;
    const killed = await deps.control.killWriters(s.at(master), { timeoutMs: limitMs });
    if (killed.lingering.length) return await fail(`connections ${killed.lingering.join(', ')} did not end`);
    p.position = (await deps.control.gtidState(s.at(master))).binlogPos;
    await s.told(
      `✓ ${nodeKey(master)} read-only${killed.ids.length ? `, ${killed.ids.length} writer connection(s) killed` : ''}; its position ${p.position || '(empty)'}`,
    );
    await s.begin('catch_up', `${nodeKey(target)} applies up to ${p.position}`, { position: p.position });
    if (!(await deps.control.waitForGtid(s.at(target), p.position, limitMs)))
      return await fail(
        `${nodeKey(target)} did not reach ${p.position} within ${deps.timeoutS} s (switchover_timeout_s)`,
      );
    await s.told(`✓ ${nodeKey(target)} has everything ${nodeKey(master)} wrote`);
    await s.begin('promote', `${nodeKey(target)} replication reset, read_only=0`);
    await deps.control.detachReplication(s.at(target));
    p.promoted = true;
    // A writer that reconnected with a privilege read_only does not stop would have written after the position.
    const after = (await deps.control.gtidState(s.at(master))).binlogPos;
    if (!gtidContains(parseGtidPosition(p.position), parseGtidPosition(after)))
      return await fail(
        `${nodeKey(master)} was written after it was made read-only (${gtidMissing(parseGtidPosition(p.position), parseGtidPosition(after)).join(', ')})`,
      );
    await deps.control.setReadOnly(s.at(target), false);
    await s.told(`✓ ${nodeKey(target)} promoted: no replication, writable`);
    return await forward(deps, c, plan, changeId, s, p, started);
  } catch (err) {
    return fail(`step failed: ${(err as Error).message}`);
  }
}

/** Steps 4 to 7 (repoint, prove, pool, record): a fresh run's second half, and a resumed run's. */
async function forward(
  deps: SwitchoverDeps,
  c: ClusterRecord,
  plan: Pick<SwitchoverPlan, 'master' | 'target' | 'others'>,
  changeId: number,
  s: ReturnType<typeof stepper>,
  p: Progress,
  started: number,
  skip: Set<string> = new Set(),
): Promise<SwitchoverResult> {
  const { master, target, others } = plan;
  const end = async (state: SwitchoverResult['state'], summary: string, pool: PoolChange[] = []) => {
    if (state !== 'done') await deps.say(`${clock(s.now())} ✗ ${summary}`);
    await deps.journal.finish(changeId, state, { note: summary });
    return { state, changeId, summary, durationMs: s.now() - started, pool };
  };
  const todo = [...others, master].filter((n) => !skip.has(nodeKey(n)));
  await s.begin('repoint', `${todo.map(nodeKey).join(', ') || 'nobody'} pointed at ${nodeKey(target)}`);
  const results = await Promise.allSettled(
    todo.map(async (n) => {
      await repoint(deps, s.at(n), target, nodeKey(n) === nodeKey(master));
      p.repointed.push(n);
    }),
  );
  const bad = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${nodeKey(todo[i]!)}: ${(r.reason as Error).message}`] : [],
  );
  if (bad.length) throw new Error(`repointing failed: ${bad.join('; ')}`);
  await s.told(`✓ ${todo.length ? todo.map(nodeKey).join(', ') : 'every node'} replicating from ${nodeKey(target)}`);

  try {
    return await proveAndMove(deps, c, plan, changeId, s, end);
  } catch (err) {
    // From the proof on the new master holds a write the old one never had: no rollback, only forward.
    return end(
      'failed',
      `${nodeKey(target)} is the master (writable, the others pointed at it), but ${(err as Error).message}; ` +
        `/replica switchover ${c.name} again finishes it`,
    );
  }
}

/** Steps 5 to 7: prove, move WRITE in the pool, record the new master. */
async function proveAndMove(
  deps: SwitchoverDeps,
  c: ClusterRecord,
  plan: Pick<SwitchoverPlan, 'master' | 'target' | 'others'>,
  changeId: number,
  s: ReturnType<typeof stepper>,
  end: (state: SwitchoverResult['state'], summary: string, pool?: PoolChange[]) => Promise<SwitchoverResult>,
): Promise<SwitchoverResult> {
  const { master, target, others } = plan;
  await s.begin('prove', `a write on ${nodeKey(target)} read back on every node`);
  const proofs = await deps.verify(s.at(target), [...others, master].map(s.at), { timeoutMs: deps.timeoutS * 1000 });
  const unproven = proofs.filter((x) => !x.ok).map((x) => `${x.node.address}:${x.node.port} (${x.detail})`);
  await s.told(
    unproven.length
      ? `✗ the write on ${nodeKey(target)} did not arrive on ${unproven.join(', ')}`
      : `✓ the write on ${nodeKey(target)} arrived on all ${proofs.length} other node(s)`,
  );

  await s.begin('pool', `WRITE moved to ${nodeKey(target)}, ${nodeKey(master)} READ`);
  let moved: PoolChange[] = [];
  let poolNote = 'not in the pool';
  if (deps.pool) {
    const inPool = (await deps.pool.list()).filter((r) =>
      c.nodes.some((n) => n.address === r.host && n.port === r.port),
    );
    if (inPool.length) {
      const move = {
        cluster: c.nodes.map((n) => ({ host: n.address, port: n.port })),
        from: { host: master.address, port: master.port },
        to: { host: target.address, port: target.port },
        fromAfter: ['READ' as const],
        actor: deps.actor,
        reason: `/replica switchover ${c.name}: ${nodeKey(master)} → ${nodeKey(target)}`,
      };
      // One retry: a store that blinked. The move is one transaction: it happened whole or not at all.
      moved = await deps.pool.moveWrite(move).catch(() =>
        deps.pool!.moveWrite(move).catch((err: unknown) => {
          throw new Error(
            `the pool was not changed (${(err as Error).message}): WRITE is still on ${nodeKey(master)}, which is read-only`,
          );
        }),
      );
      for (const ch of moved) await deps.announcePool?.(ch);
      poolNote = moved.length ? `WRITE on ${nodeKey(target)}` : 'already so';
    }
  }
  await s.told(`✓ pool: ${poolNote}`);
  await s.begin('record', `cluster ${c.name} recorded with master ${nodeKey(target)}`);
  await deps.clusters.setNodes(c.name, switchedNodes(c.nodes, target));
  const summary = `${nodeKey(target)} is the master of ${c.name}; ${[...others, master].map(nodeKey).join(', ')} replicate from it; pool: ${poolNote}`;
  if (unproven.length)
    return end('failed', `${summary}. NOT proven on ${unproven.join(', ')}: look at /replica status`, moved);
  await s.told(`✓ done: ${summary}`);
  return end('done', summary, moved);
}

/**
 * Finishes a switchover cut half-way (journal row `change`, still running): from the nodes' real state, rolls it
 * back when the target was not promoted yet, else goes forward from repointing (nodes already on the target kept).
 */
export async function resumeSwitchover(
  deps: SwitchoverDeps,
  c: ClusterRecord,
  change: TopologyChange,
): Promise<SwitchoverResult> {
  const s = stepper(deps, c, change.id);
  const started = s.now();
  const master = c.nodes.find((n) => nodeKey(n) === change.from);
  const target = c.nodes.find((n) => nodeKey(n) === change.to);
  const stop = async (state: 'failed' | 'rolled_back', summary: string) => {
    await deps.say(`${clock(s.now())} ${state === 'failed' ? '✗' : '↩'} ${summary}`);
    await deps.journal.finish(change.id, state, { note: summary });
    return { state, changeId: change.id, summary, durationMs: s.now() - started, pool: [] };
  };
  if (!master || !target) return stop('failed', `${change.from} or ${change.to} is no longer a node of ${c.name}`);
  const readings = await readCluster(deps.control, c);
  const down = readings.filter((r) => 'error' in r).map((r) => nodeKey(r.node));
  if (down.length)
    return stop('failed', `cannot finish: ${down.join(', ')} do(es) not answer; run it again once they do`);
  const st = new Map(readings.map((r) => [nodeKey(r.node), 'state' in r ? r.state : null]));
  const ts = st.get(change.to)!;
  const ms = st.get(change.from)!;
  await s.begin('resume', `cut at step ${change.step}; finishing from the nodes' state`);
  const position = typeof change.detail.position === 'string' ? change.detail.position : undefined;
  if (ts.replicating) {
    // Not promoted: the old master is still everyone's master; it only needs to be writable again.
    const r = await rollBack(
      deps,
      c,
      { master, target },
      { masterReadOnly: ms.readOnly, promoted: false, repointed: [], position },
    );
    return stop(
      r.ok ? 'rolled_back' : 'failed',
      `switchover #${change.id} rolled back: ${r.notes.join('; ') || 'nothing had changed'}`,
    );
  }
  const lacking = gtidMissing(parseGtidPosition(ts.currentPos), parseGtidPosition(ms.binlogPos));
  if (lacking.length)
    return stop('failed', `${change.from} has transactions ${change.to} lacks (${lacking.join(', ')}): not finished`);
  const p: Progress = { masterReadOnly: true, promoted: true, repointed: [], position };
  if (!ms.readOnly) await deps.control.setReadOnly(s.at(master), true);
  if (ts.readOnly) await deps.control.setReadOnly(s.at(target), false);
  const onTarget = new Set(
    readings.flatMap((r) =>
      'state' in r &&
      r.state.master &&
      `${r.state.master.host}:${r.state.master.port}` === change.to &&
      r.state.ioRunning === 'Yes'
        ? [nodeKey(r.node)]
        : [],
    ),
  );
  const others = c.nodes.filter((n) => n !== master && n !== target);
  try {
    return await forward(deps, c, { master, target, others }, change.id, s, p, started, onTarget);
  } catch (err) {
    return stop('failed', `finishing failed: ${(err as Error).message}; run /replica switchover ${c.name} again`);
  }
}
