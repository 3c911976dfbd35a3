/**
 * The steps of a failover after the replica to promote is chosen and journaled (failover.ts starts it). Every step
 * is derived from what the servers say now, not from what the journal says was done, so that a failover cut
 * half-way is finished by running it again: a replica already pointed at the new master is left alone, a promoted
 * one is not promoted twice, the pool move plans nothing when WRITE already moved. A little over 300 lines: the
 * steps share one Run and read as one sequence (re-choosing after a dead choice lives in failover-resume.ts).
 */
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { missingFrom } from '../core/gtid.js';
import type { NodeAddress, NodeStatus, ReplicationProbe } from '../core/ports/replication.js';
import type { ReplicationControl, GtidState } from '../core/ports/replication-control.js';
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
import { nodeKey, type ReplicaPosition } from './candidate.js';
import type { TopologyLocks } from './topology-lock.js';

/** How it ended. `refused`: nothing was changed. */
export interface FailoverResult {
  ok: boolean;
  refused?: boolean;
  summary: string;
  /** address:port of the new master. */
  promoted?: string;
  changeId?: number;
}

/** The journal's step names, in order. */
export type FailoverStep =
  'chosen' | 'relay_applied' | 'others_detached' | 'promoted' | 'repointed' | 'pool' | 'recorded';

/** What a failover runs over. */
export interface FailoverDeps {
  clusters: Pick<ClusterStore, 'get' | 'setNodes'>;
  probe: Pick<ReplicationProbe, 'status'>;
  control: ReplicationControl;
  journal: ChangeJournal;
  /** The per-cluster topology-change lock (topology-lock.ts), held by every failover and rejoin for its whole run. */
  locks: TopologyLocks;
  /** The load-balancer pool; absent: no pool step. */
  pool?: Pick<PoolStore, 'get' | 'moveWrite'>;
  /** Announces a pool change in the pool channel. */
  announcePool?: (ch: PoolChange) => Promise<void>;
  /** Probes in a row that must see the master lost (the policy's failcount; default 3), `intervalMs` apart. */
  failcount?: number;
  intervalMs?: number;
  /** How long the chosen replica may take to apply its relay log (default 60 s). */
  relayTimeoutMs?: number;
  /** Called after each journaled step. Tests: a throw here is the bot dying at that point (nothing more is done). */
  afterStep?: (step: FailoverStep) => Promise<void> | void;
  now?: () => Date;
  logger: Logger;
}

/** Posts one line of the story, with its time. */
export type Reporter = (text: string) => Promise<void>;

/** The bot "died" (the test hook threw): nothing more is done or journaled. */
class Cut extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const GTID_MODES = ['Slave_Pos', 'Current_Pos'];

/** Reads what candidate choice needs of each replica (a replica whose GTID state cannot be read is unreachable). */
export async function positionsOf(
  deps: Pick<FailoverDeps, 'probe' | 'control'>,
  c: ClusterRecord,
  replicas: ClusterNode[],
): Promise<ReplicaPosition[]> {
  return Promise.all(
    replicas.map(async (node) => {
      const a = nodeAddress(c, node);
      const status: NodeStatus = await deps.probe.status(a);
      let st: GtidState | null = null;
      let why: string | null = null;
      if (status.reachable) st = await deps.control.gtidState(a).catch((err: Error) => ((why = err.message), null));
      return {
        node,
        status: why ? { ...status, reachable: false, error: why } : status,
        received: st?.ioPos || st?.slavePos || null,
        executed: st?.slavePos || null,
        usingGtid: !!st && GTID_MODES.includes(st.usingGtid ?? ''),
        relayLogSpace: st?.relayBacklog ?? null,
      };
    }),
  );
}

/** One run of the steps: who is who, and how a step is journaled and told. */
interface Run {
  deps: FailoverDeps;
  c: ClusterRecord;
  chosen: ClusterNode;
  old: ClusterNode | undefined;
  addr: (n: ClusterNode) => NodeAddress;
  mark: (s: FailoverStep, note: string, detail?: Record<string, unknown>) => Promise<void>;
}

/** Runs the steps after `chosen` of `change` to the end, or to where a step fails (the row then stays running). */
export async function finishFailover(
  deps: FailoverDeps,
  c: ClusterRecord,
  change: TopologyChange,
  tell: Reporter,
  o: { actor: string },
): Promise<FailoverResult> {
  const byAddr = (s: string) => c.nodes.find((n) => `${n.address}:${n.port}` === s);
  const chosen = byAddr(change.to);
  const old = byAddr(change.from);
  if (!chosen) return { ok: false, summary: `failover #${change.id}: ${change.to} is no longer in the record` };
  let step = change.step;
  const run: Run = {
    deps,
    c,
    chosen,
    old,
    addr: (n) => nodeAddress(c, n),
    async mark(s, note, detail) {
      await deps.journal.step(change.id, s, { note, ...(detail ? { detail } : {}) });
      step = s;
      await tell(`✓ ${note}`);
      try {
        await deps.afterStep?.(s);
      } catch (err) {
        throw new Cut((err as Error).message, { cause: err });
      }
    },
  };
  // Servers were changed already: this run resumes a cut one, or re-chose after its chosen replica died (then its
  // row starts at 'chosen' though replicas may have been detached by the row before).
  const changedBefore = change.step !== 'chosen' || change.detail.changedBefore === true;
  try {
    // A resumed failover whose old master answers again: fenced before anything else (never two writable masters).
    if (old && changedBefore) await fenceIfBack(deps, run.addr(old), nodeKey(old), tell);
    else if (old && (await deps.probe.status(run.addr(old))).reachable) {
      await deps.journal.finish(change.id, 'failed', { note: 'the master answers again; nothing was changed' });
      await tell(`✗ the master ${nodeKey(old)} answers again: failover #${change.id} stopped, nothing was changed`);
      return { ok: false, refused: true, summary: `the master ${nodeKey(old)} answers again; nothing was changed` };
    }
    const applied = await waitRelayApplied(deps, run.addr(chosen), nodeKey(chosen));
    await run.mark('relay_applied', `${nodeKey(chosen)} applied its relay log (executed ${applied || 'nothing'})`, {
      promotedAt: applied,
    });
    const reached = await detachOthers(run);
    await promote(run);
    await startOthers(run, reached);
    await run.mark('pool', await movePool(deps, c, chosen, old, o.actor, change.id));
    await recordMaster(run);
    await deps.journal.finish(change.id, 'done', { note: `${nodeKey(chosen)} is the master` });
    await tell(`✅ failover #${change.id} done: ${nodeKey(chosen)} is the master of ${c.name}`);
    const promoted = `${chosen.address}:${chosen.port}`;
    return { ok: true, summary: `${nodeKey(chosen)} is the master of ${c.name}`, promoted, changeId: change.id };
  } catch (err) {
    if (err instanceof Cut) throw err.cause;
    const why = (err as Error).message;
    if (step === 'chosen' && !changedBefore) {
      // Nothing was changed on any server yet: the failover ends here.
      await deps.journal.finish(change.id, 'failed', { note: why }).catch(() => false);
      await tell(`✗ failover #${change.id} stopped before changing anything: ${why}`);
      return { ok: false, summary: `failover #${change.id} failed, nothing was changed: ${why}`, changeId: change.id };
    }
    await deps.journal.step(change.id, step, { note: `failed after ${step}: ${why}` }).catch(() => undefined);
    await tell(`✗ failover #${change.id} stopped after step ${step}: ${why}. /replica failover ${c.name} finishes it.`);
    return { ok: false, summary: `failover #${change.id} stopped after ${step}: ${why}`, changeId: change.id };
  }
}

/** Every other replica pointed at the chosen one (not started): none is fed by the dead master any more. */
async function detachOthers(run: Run): Promise<ClusterNode[]> {
  const { deps, chosen } = run;
  const reached: ClusterNode[] = [];
  const unreached: string[] = [];
  for (const n of run.c.nodes.filter((x) => x !== chosen && x !== run.old)) {
    const st = await deps.control.gtidState(run.addr(n)).catch(() => null);
    if (!st) {
      unreached.push(nodeKey(n));
      continue;
    }
    reached.push(n);
    const onNew = st.master?.host === chosen.address && st.master.port === chosen.port;
    if (!onNew) await deps.control.pointAt(run.addr(n), { address: chosen.address, port: chosen.port });
  }
  const later = unreached.length ? `${unreached.join(', ')} could not be reached: /replica rejoin it later` : '';
  await run.mark(
    'others_detached',
    reached.length
      ? `detached ${reached.map(nodeKey).join(', ')} from the lost master (pointed at ${nodeKey(chosen)} with MASTER_USE_GTID=slave_pos, not started yet)${later ? `; ${later}` : ''}`
      : `no other replica to detach${later ? ` (${later})` : ''}`,
    { detached: reached.map(nodeKey), unreached },
  );
  return reached;
}

/** The chosen replica's replication stopped and reset, then read_only=0. */
async function promote(run: Run): Promise<void> {
  const { deps, chosen } = run;
  const st = await deps.control.gtidState(run.addr(chosen));
  if (st.replicating) await deps.control.detachReplication(run.addr(chosen));
  if (st.readOnly) await deps.control.setReadOnly(run.addr(chosen), false);
  const at = (await deps.control.gtidState(run.addr(chosen))).binlogPos;
  await run.mark(
    'promoted',
    `promoted ${nodeKey(chosen)}: replication reset, read_only=0 (binlog at ${at || 'empty'})`,
  );
}

/** The detached replicas started on the new master, each seen connected (or said as it is). */
async function startOthers(run: Run, reached: ClusterNode[]): Promise<void> {
  const states: string[] = [];
  for (const n of reached) {
    const s = await run.deps.control.gtidState(run.addr(n));
    if (s.ioRunning !== 'Yes' || s.sqlRunning !== 'Yes') await run.deps.control.startReplication(run.addr(n));
    states.push(`${nodeKey(n)} ${await replicatingState(run.deps, run.addr(n))}`);
  }
  await run.mark(
    'repointed',
    states.length ? `replicas started on ${nodeKey(run.chosen)}: ${states.join('; ')}` : 'no replica to start',
  );
}

/** The record names the new master; every other node (the old master too) a replica of it. */
async function recordMaster(run: Run): Promise<void> {
  const { c, chosen, old } = run;
  const from = `${chosen.address}:${chosen.port}`;
  const nodes = c.nodes.map((n): ClusterNode => {
    if (n !== chosen) return { ...n, role: 'replica', replicatesFrom: from };
    const { replicatesFrom: _gone, ...rest } = n;
    return { ...rest, role: 'master' };
  });
  await run.deps.clusters.setNodes(c.name, nodes);
  await run.mark(
    'recorded',
    `recorded ${nodeKey(chosen)} as the master of ${c.name}${old ? `; ${nodeKey(old)} stays out until /replica rejoin ${c.name} ${nodeKey(old)}` : ''}`,
  );
}

/** Waits until the replica executed what it received (no relay log left); returns its executed position. */
async function waitRelayApplied(
  deps: Pick<FailoverDeps, 'control' | 'relayTimeoutMs'>,
  a: NodeAddress,
  name: string,
): Promise<string> {
  const deadline = Date.now() + (deps.relayTimeoutMs ?? 60_000);
  for (;;) {
    const st = await deps.control.gtidState(a);
    // Promoted already (a resumed failover): nothing is left to apply.
    if (!st.replicating) return st.slavePos;
    // Stopped, having executed all it received: a replica a failover detached (pointed at a chosen replica that
    // then died; CHANGE MASTER emptied its relay log), now chosen itself. Nothing to wait for.
    if (st.sqlRunning !== 'Yes' && !st.lastSqlError && !missingFrom(st.ioPos || st.slavePos, st.slavePos).length)
      return st.slavePos;
    if (st.lastSqlError) throw new GearopsError(ErrorCode.Conflict, `${name}'s SQL thread failed: ${st.lastSqlError}`);
    if (st.ioPos) {
      if (await deps.control.waitForGtid(a, st.ioPos, Math.max(1, deadline - Date.now()))) return st.ioPos;
    } else if (st.relayBacklog === 0) return st.slavePos;
    if (Date.now() > deadline)
      throw new GearopsError(
        ErrorCode.JobTimeout,
        `${name} did not apply its relay log within ${Math.round((deps.relayTimeoutMs ?? 60_000) / 1000)} s (${st.relayBacklog} bytes left)`,
      );
    await sleep(100);
  }
}

/** A started replica's threads, once its IO thread connected (at most 10 s). */
async function replicatingState(deps: Pick<FailoverDeps, 'control'>, a: NodeAddress): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await deps.control.gtidState(a);
    if ((s.ioRunning === 'Yes' && s.sqlRunning === 'Yes') || Date.now() > deadline)
      return `IO ${s.ioRunning ?? '?'}, SQL ${s.sqlRunning ?? '?'}${s.lastIoError ? ` (${s.lastIoError})` : ''}${s.lastSqlError ? ` (${s.lastSqlError})` : ''}`;
    await sleep(100);
  }
}

/** A returning old master is made read_only=1 at once. */
export async function fenceIfBack(deps: FailoverDeps, a: NodeAddress, name: string, tell: Reporter) {
  const s = await deps.probe.status(a);
  if (!s.reachable || s.readOnly) return;
  await deps.control.setReadOnly(a, true);
  await tell(`⚠ the old master ${name} answers again: made read_only=1 before going on`);
}

/** The old master out of the pool and WRITE on the new one, in one transaction; the note for the journal. */
async function movePool(
  deps: FailoverDeps,
  c: ClusterRecord,
  chosen: ClusterNode,
  old: ClusterNode | undefined,
  actor: string,
  id: number,
): Promise<string> {
  if (!deps.pool) return 'no pool configured: nothing to move';
  const members = c.nodes.map((n) => ({ host: n.address, port: n.port }));
  const rows = await Promise.all(members.map((m) => deps.pool!.get(m.host, m.port)));
  if (!rows.some(Boolean)) return `no server of ${c.name} is in the pool: nothing to move`;
  const changes = await deps.pool.moveWrite({
    cluster: members,
    to: { host: chosen.address, port: chosen.port },
    from: old ? { host: old.address, port: old.port } : null,
    fromAfter: 'out',
    actor,
    reason: `failover #${id} of ${c.name}`,
  });
  for (const ch of changes) await deps.announcePool?.(ch).catch(() => undefined);
  return changes.length
    ? `pool: ${changes.map((ch) => `${ch.host}:${ch.port} ${ch.before?.join(',') ?? 'absent'} → ${ch.after?.join(',') ?? 'out'}`).join('; ')} (one transaction)`
    : `pool: WRITE already on ${nodeKey(chosen)}`;
}
