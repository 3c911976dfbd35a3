/**
 * Finishing a failover cut half-way (its journal row still running) when the replica it chose no longer answers.
 * Before `promoted` nothing was made writable, so the choice is made again among the replicas that answer, from
 * what the servers say now (a replica the cut run detached — pointed at the dead one, not started, its relay log
 * emptied by CHANGE MASTER — is a candidate when it executed all it received); the old row ends `failed` naming why, and a
 * new row carries on, the thread told that the choice changed and why. From `promoted` on, the dead replica was
 * the writable master: its loss is a new master loss, not this failover's to finish; the row ends, the record names
 * it as the master (so that its loss is judged like any other), and the answer says so — never a retry loop.
 */
import { describeRanges, missingFrom } from '../core/gtid.js';
import type { ClusterNode, ClusterRecord, TopologyChange } from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { chooseCandidate, nodeKey, type ReplicaPosition } from './candidate.js';
import {
  fenceIfBack,
  finishFailover,
  positionsOf,
  type FailoverDeps,
  type FailoverResult,
  type Reporter,
} from './failover-steps.js';

const addrPort = (n: ClusterNode) => `${n.address}:${n.port}`;
const STEPS_BEFORE_PROMOTION = ['chosen', 'relay_applied', 'others_detached'];

/**
 * Finishes `change` (a running failover of `c`): as it was chosen while its replica answers (`to`, when given,
 * must then be that replica), else re-chosen (`to` names the new one) or ended as a new master loss.
 */
export async function resumeFailover(
  deps: FailoverDeps,
  c: ClusterRecord,
  change: TopologyChange,
  tell: Reporter,
  o: { actor: string; to?: ClusterNode },
): Promise<FailoverResult> {
  const chosen = c.nodes.find((n) => addrPort(n) === change.to);
  const status = chosen ? await deps.probe.status(nodeAddress(c, chosen)) : null;
  if (chosen && status?.reachable) {
    if (o.to && addrPort(o.to) !== change.to)
      return {
        ok: false,
        refused: true,
        summary: `failover #${change.id} of ${c.name} to ${nodeKey(chosen)} did not finish: run it again without to= to finish it`,
      };
    return finishFailover(deps, c, change, tell, o);
  }
  const why = chosen ? (status?.error ?? 'no answer') : 'it is no longer in the record';
  const dead = chosen ? nodeKey(chosen) : change.to;
  if (!STEPS_BEFORE_PROMOTION.includes(change.step)) return newMasterLoss(deps, c, change, tell, chosen, why);
  const old = c.nodes.find((n) => addrPort(n) === change.from);
  // Nothing changed yet and the old master is back: finishFailover ends it so, as when its choice still answers.
  if (
    change.step === 'chosen' &&
    change.detail.changedBefore !== true &&
    old &&
    (await deps.probe.status(nodeAddress(c, old))).reachable
  )
    return finishFailover(deps, c, change, tell, o);
  const replicas = c.nodes.filter((n) => n !== old && n !== chosen && n.role === 'replica');
  const positions = (await positionsOf(deps, c, replicas)).map((p) => (chosen ? detachedFrom(p, chosen) : p));
  const choice = chooseCandidate(positions, o.to ? nodeKey(o.to) : undefined);
  if (!choice.ok) {
    const summary =
      `failover #${change.id} cannot go on: ${dead}, the replica it chose, does not answer (${why}) and was not ` +
      `promoted; ${choice.reason}. Nothing was made writable; /replica failover ${c.name} tries again`;
    await tell(`✗ ${summary}`);
    return { ok: false, summary, changeId: change.id };
  }
  const next = choice.chosen.node;
  const had = typeof change.detail.positions === 'object' && change.detail.positions ? change.detail.positions : {};
  const deadHad = (had as Record<string, unknown>)[dead];
  const lost =
    typeof deadHad === 'string' ? missingFrom(deadHad, choice.chosen.received ?? choice.chosen.executed) : [];
  const note = `${dead} does not answer (${why}) and was not promoted: ${nodeKey(next)} is chosen instead`;
  await deps.journal.finish(change.id, 'failed', { note });
  const again = await deps.journal.begin({
    cluster: c.name,
    kind: 'failover',
    from: change.from,
    to: addrPort(next),
    actor: o.actor,
    step: 'chosen',
    detail: {
      ...change.detail,
      positions: Object.fromEntries(positions.map((p) => [nodeKey(p.node), p.received ?? p.executed])),
      lostOnChosen: lost.length ? [`${dead}: ${describeRanges(lost)}`] : [],
      rechosen: { from: change.id, was: change.to, why },
      changedBefore: change.step !== 'chosen' || change.detail.changedBefore === true,
    },
  });
  await tell(
    `↻ the choice changed: ${dead}, which failover #${change.id} chose, does not answer (${why}) and was not ` +
      `promoted yet, so ${nodeKey(next)} is promoted instead (${o.to ? 'asked for' : 'the most advanced GTID of the replicas that answer'}) — failover #${again.id}` +
      (lost.length ? `. ⚠ what only ${dead} had received is lost: ${describeRanges(lost)}` : ''),
  );
  await deps.afterStep?.('chosen');
  return finishFailover(deps, c, again, tell, o);
}

/**
 * A replica the cut run pointed at `chosen` and did not start: CHANGE MASTER emptied its relay log (its Gtid_IO_Pos
 * is its slave position), so its stopped SQL thread has nothing left to apply and it may be chosen.
 */
function detachedFrom(p: ReplicaPosition, chosen: ClusterNode): ReplicaPosition {
  const s = p.status;
  const onChosen = s.masterHost === chosen.address && s.masterPort === chosen.port;
  const unapplied = missingFrom(p.received, p.executed).length > 0;
  if (!s.reachable || !onChosen || s.sqlRunning === 'Yes' || (s.lastSqlErrno ?? 0) > 0 || unapplied) return p;
  return { ...p, status: { ...s, sqlRunning: 'Yes' } };
}

/**
 * The chosen replica was promoted (it is the writable master) and is now lost too. Its replicas are started (their
 * IO threads then say they cannot reach it, so its loss can be confirmed), it is recorded as the master, and the row
 * ends: a new failover replaces it.
 */
async function newMasterLoss(
  deps: FailoverDeps,
  c: ClusterRecord,
  change: TopologyChange,
  tell: Reporter,
  chosen: ClusterNode | undefined,
  why: string,
): Promise<FailoverResult> {
  const dead = chosen ? nodeKey(chosen) : change.to;
  // The old master back meanwhile is fenced first, as every resumed failover does: never two writable masters.
  const old = c.nodes.find((n) => addrPort(n) === change.from);
  if (old) await fenceIfBack(deps, nodeAddress(c, old), nodeKey(old), tell);
  if (chosen) {
    for (const n of c.nodes.filter((x) => x !== chosen && addrPort(x) !== change.from)) {
      const st = await deps.control.gtidState(nodeAddress(c, n)).catch(() => null);
      if (st?.master?.host === chosen.address && st.master.port === chosen.port && st.ioRunning === 'No')
        await deps.control.startReplication(nodeAddress(c, n)).catch(() => undefined);
    }
    const to = addrPort(chosen);
    await deps.clusters.setNodes(
      c.name,
      c.nodes.map((n): ClusterNode => {
        if (n !== chosen) return { ...n, role: 'replica', replicatesFrom: to };
        const { replicatesFrom: _gone, ...rest } = n;
        return { ...rest, role: 'master' };
      }),
    );
  }
  const summary =
    `${dead} was promoted by failover #${change.id} (it got to step ${change.step}) and does not answer now (${why}): ` +
    `that is a new loss of the master, which this failover cannot finish. Failover #${change.id} ends here` +
    (chosen
      ? `; ${dead} is recorded as the master of ${c.name} and its replicas point at it, so its loss is judged like any ` +
        `other: /replica failover ${c.name} replaces it once the loss is confirmed (the alert thread says when)`
      : '');
  await deps.journal.finish(change.id, 'failed', { note: summary });
  await tell(`✗ ${summary}`);
  return { ok: false, summary, changeId: change.id };
}
