/** Finishing a switchover cut half-way (the bot died mid-sequence), from the journal and the nodes' real state. */
import type { ClusterRecord, TopologyChange } from '../core/ports/store.js';
import { gtidMissing, parseGtidPosition } from '../core/gtid.js';
import { nodeKey } from './switchover-plan.js';
import {
  clock,
  readCluster,
  rollBack,
  stepper,
  type Progress,
  type SwitchoverDeps,
  type SwitchoverResult,
} from './switchover-steps.js';
import { forward } from './switchover-forward.js';

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

/** What /replica status says of a switchover cut half-way: where it stopped, and how to finish it. */
export function explainSwitchover(ch: TopologyChange, now = Date.now()): string {
  const last = ch.steps.at(-1);
  const ago = Math.max(0, Math.round((now - ch.updatedAt.getTime()) / 1000));
  return (
    `⚠ switchover #${ch.id} (${ch.from} → ${ch.to}, by ${ch.actor}) is at step ${ch.step}` +
    `${last?.note ? ` (${last.note})` : ''}, last moved ${ago} s ago. ` +
    `/replica switchover ${ch.cluster} finishes it: rolled back if ${ch.to} was not promoted yet, else completed.`
  );
}
