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
import type { ClusterRecord } from '../core/ports/store.js';
import { gtidContains, gtidMissing, parseGtidPosition } from '../core/gtid.js';
import { nodeKey, type SwitchoverPlan } from './switchover-plan.js';
import { forward } from './switchover-forward.js';
import {
  clock,
  rollBack,
  stepper,
  type Progress,
  type SwitchoverDeps,
  type SwitchoverResult,
} from './switchover-steps.js';

export { readCluster, type SwitchoverDeps, type SwitchoverResult } from './switchover-steps.js';
export { explainSwitchover, resumeSwitchover } from './switchover-resume.js';

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
