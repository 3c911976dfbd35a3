/** Steps 4 to 7 of a switchover (repoint, prove, pool, record): a fresh run's second half, and a resumed run's. */
import type { ClusterRecord, PoolChange } from '../core/ports/store.js';
import { nodeKey, switchedNodes, type SwitchoverPlan } from './switchover-plan.js';
import {
  clock,
  repoint,
  type Progress,
  type stepper,
  type SwitchoverDeps,
  type SwitchoverResult,
} from './switchover-steps.js';

/** Steps 4 to 7 (repoint, prove, pool, record): a fresh run's second half, and a resumed run's. */
export async function forward(
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
  // A node read through its worker is proven by its threads and position (prove.ts): the thread says which.
  const byState = [target, ...others, master].some((n) => s.at(n).via);
  const proof = byState ? `replication from ${nodeKey(target)}` : `the write on ${nodeKey(target)}`;
  await s.begin(
    'prove',
    byState
      ? `every node replicating from ${nodeKey(target)}, at its position`
      : `a write on ${nodeKey(target)} read back on every node`,
  );
  const proofs = await deps.verify(s.at(target), [...others, master].map(s.at), { timeoutMs: deps.timeoutS * 1000 });
  const unproven = proofs.filter((x) => !x.ok).map((x) => `${x.node.address}:${x.node.port} (${x.detail})`);
  await s.told(
    unproven.length
      ? `✗ ${proof} not proven on ${unproven.join(', ')}`
      : byState
        ? `✓ ${proof} proven on all ${proofs.length} other node(s): threads running, at its position`
        : `✓ ${proof} arrived on all ${proofs.length} other node(s)`,
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
