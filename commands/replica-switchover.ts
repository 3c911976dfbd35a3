/**
 * `/replica switchover <cluster> [to=<host>|to=<host:port>]`: the planned change of a cluster's master (src/cluster/
 * switchover.ts runs the steps). Refuses, with every reason, unless every node answers (directly, or through its
 * host's worker: its steps then run there, as the person who asked), replicates by GTID, and the target is a
 * healthy replica within GEAROPS_LAG_THRESHOLD_S. Asks for confirmation, journals each
 * step, tells it in a thread under its message, and moves WRITE in the pool. A switchover cut half-way (the bot
 * died) is finished by running the command again. Built and watched clusters alike.
 * The factory is long because it holds the handler and its few helpers over one set of running changes.
 */
import { authorize } from '../src/core/authorize.js';
import { ErrorCode, GearopsError, isGearopsError } from '../src/errors.js';
import { textMessage } from '../src/core/message.js';
import type { ChatSink, MessageRef } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { ReplicationProbe } from '../src/core/ports/replication.js';
import { controlFor, type ReplicationControl } from '../src/core/ports/replication-control.js';
import type { ChangeJournal, ClusterRecord, ClusterStore, PoolStore, TopologyChange } from '../src/core/ports/store.js';
import { nodeAddress } from '../src/core/cluster.js';
import { poolChangeMessage } from '../src/core/pool-message.js';
import { nodeKey, planSwitchover, type SwitchoverPlan } from '../src/cluster/switchover-plan.js';
import {
  readCluster,
  resumeSwitchover,
  runSwitchover,
  type SwitchoverDeps,
  type SwitchoverResult,
} from '../src/cluster/switchover.js';
import { withTopologyLock, type TopologyLocks } from '../src/cluster/topology-lock.js';
import { resolveNode } from '../src/cluster/node-spec.js';
import { replicationProof } from '../src/cluster/prove.js';
import { formatDuration, mention, requesterOf } from './shared.js';
import { SWITCHOVER_USAGE } from './replica/parse.js';

export { SWITCHOVER_USAGE };

/** What the switchover needs besides /replica's own dependencies. */
export interface SwitchoverCommandDeps {
  policy: Policy;
  clusters: ClusterStore;
  probe: Pick<ReplicationProbe, 'verifyReplication'>;
  control: ReplicationControl;
  /** The store's journal of topology changes (absent: the command says it needs the store). */
  journal?: ChangeJournal;
  /** The per-cluster topology-change lock, held from the last check to the end (src/cluster/topology-lock.ts). */
  locks: TopologyLocks;
  pool?: PoolStore;
  chat?: ChatSink;
  poolChannel?: string;
  /** GEAROPS_LAG_THRESHOLD_S: the most a target may lag. */
  lagThresholdS: number;
}

const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
const TO_RE = /^to=([A-Za-z0-9][A-Za-z0-9._-]{0,253})(?::(\d{1,5}))?$/;

/** Parses the arguments; throws a usage error naming what is wrong. */
export function parseSwitchover(args: string[]): { cluster: string; to?: string } {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${SWITCHOVER_USAGE}`);
  const [cluster, ...rest] = args;
  if (!cluster || !NAME_RE.test(cluster))
    throw usage(`\`${(cluster ?? '').slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _).`);
  if (rest.length > 1) throw usage('one option at most: to=<host> or to=<host:port>.');
  if (!rest.length) return { cluster };
  const m = TO_RE.exec(rest[0]!);
  const port = Number(m?.[2] ?? 1);
  if (!m || port < 1 || port > 65535) throw usage(`\`${rest[0]!.slice(0, 60)}\` is not to=<host> or to=<host:port>.`);
  return { cluster, to: m[2] ? `${m[1]}:${port}` : m[1]! };
}

/** Creates the handler for `/replica switchover`. */
export function createSwitchoverCommand(deps: SwitchoverCommandDeps) {
  // Changes this process runs right now: never "resumed" by a second command while they run.
  const runningHere = new Set<number>();
  const refuse = async (inv: CommandInvocation, text: string): Promise<CommandOutcome> => {
    await inv.reply.ephemeral(textMessage(text));
    return { status: 'refused', summary: text.slice(0, 300) };
  };

  /** A running change of this cluster: refused while alive, offered to finish once its runner went quiet. */
  async function cut(inv: CommandInvocation, c: ClusterRecord, ch: TopologyChange, timeoutS: number) {
    const quietMs = Date.now() - ch.updatedAt.getTime();
    const what = `${ch.kind} #${ch.id} of ${c.name} (${ch.from} → ${ch.to}, by ${mention(ch.actor)}) at step ${ch.step}`;
    // Its longest step: read_only, killing, catching up and proving, each up to the time-out.
    if (runningHere.has(ch.id) || quietMs < (3 * timeoutS + 30) * 1000)
      return refuse(inv, `Not switched: ${what} is running (last step ${formatDuration(quietMs)} ago).`);
    if (ch.kind !== 'switchover')
      return refuse(inv, `Not switched: ${what} did not finish. /replica ${ch.kind} ${c.name} finishes it.`);
    const q = `${what} did not finish (its last step was ${formatDuration(quietMs)} ago: the bot running it stopped). Finish it from where the servers are now? If the new master was not promoted yet it is rolled back, else it goes on.`;
    if (!(await inv.reply.confirm(textMessage(q), { yesLabel: 'Finish switchover' })))
      return refuse(inv, `Not finished: switchover #${ch.id} is left as it was.`);
    return locked(inv, c, async () => {
      // Another person may have finished it while this one was asked.
      const still = await deps.journal!.running(c.name);
      if (still?.id !== ch.id)
        return refuse(inv, `Not finished: switchover #${ch.id} has ended meanwhile; see /replica status ${c.name}.`);
      return perform(inv, c, ch.id, `finishing switchover #${ch.id} of *${c.name}* (${ch.from} → ${ch.to})`, (d) =>
        resumeSwitchover(d, c, still),
      );
    });
  }

  /** Runs `fn` holding the cluster's topology-change lock; refused, nothing changed, while another holds it. */
  const locked = (inv: CommandInvocation, c: ClusterRecord, fn: () => Promise<CommandOutcome>) =>
    withTopologyLock(deps.locks, deps.journal!, c.name, (busy) => refuse(inv, `Not switched: ${busy}.`), fn);

  /** Posts the change's message, runs it with its steps in the thread, and ends the message with the result. */
  async function perform(
    inv: CommandInvocation,
    c: ClusterRecord,
    changeId: number,
    what: string,
    run: (d: SwitchoverDeps) => Promise<SwitchoverResult>,
  ): Promise<CommandOutcome> {
    runningHere.add(changeId);
    try {
      const head = `${mention(inv.principal.userId)} is ${what}…`;
      const ref: MessageRef = await inv.reply.post(textMessage(head)).catch(async (err: unknown) => {
        // Nothing was changed yet: the change ends here rather than wait, running, to be found cut.
        await deps.journal!.finish(changeId, 'failed', {
          note: `its message could not be posted: ${(err as Error).message}`,
        });
        throw err;
      });
      const say = async (line: string) => {
        await inv.reply.post(textMessage(line), { threadTs: ref.ts }).catch(() => undefined);
      };
      const announcePool = async (ch: Parameters<typeof poolChangeMessage>[0]) => {
        if (deps.chat && deps.poolChannel)
          await deps.chat.post(deps.poolChannel, poolChangeMessage(ch)).catch(() => undefined);
      };
      // A node read through its host's worker is changed there, as the person who asked (its policy decides).
      const control = controlFor(deps.control, requesterOf(inv.principal), 'replica.switchover');
      const r = await run({
        control,
        verify: replicationProof(deps.probe, control),
        journal: deps.journal!,
        clusters: deps.clusters,
        pool: deps.pool,
        say,
        announcePool,
        actor: inv.principal.userId,
        timeoutS: deps.policy.settings.switchoverTimeoutS,
      });
      const mark = r.state === 'done' ? '✓' : r.state === 'rolled_back' ? '↩' : '✗';
      const text = `${mark} switchover #${r.changeId} of *${c.name}* ${r.state === 'done' ? 'done' : r.state === 'rolled_back' ? 'rolled back' : 'FAILED'} in ${formatDuration(r.durationMs)}: ${r.summary}`;
      await inv.reply.update(ref, textMessage(text)).catch(() => undefined);
      return {
        status: r.state === 'done' ? 'ok' : 'failed',
        summary: `switchover #${r.changeId} ${r.state}: ${r.summary}`.slice(0, 1000),
        durationMs: r.durationMs,
      };
    } finally {
      runningHere.delete(changeId);
    }
  }

  /** Reasons to refuse the plan that are about accounts rather than replication state. */
  function accountProblems(c: ClusterRecord, plan: SwitchoverPlan): string[] {
    const m = plan.master;
    if (plan.states.get(nodeKey(m))?.masterUser || (deps.control.hasReplicationAccount?.(nodeAddress(c, m)) ?? true))
      return [];
    return [
      `${nodeKey(m)} must replicate from the new master and no replication account is configured for it` +
        (c.kind === 'watched' ? ` (add replication: { user, password } to credentials entry '${c.credentials}')` : ''),
    ];
  }

  /** Under the lock: the servers read and checked again (the answer may come minutes later), journaled, run. */
  async function begin(inv: CommandInvocation, c: ClusterRecord, plan: SwitchoverPlan): Promise<CommandOutcome> {
    const { master, target } = plan;
    // The record too: another instance may have changed the master meanwhile.
    const now = (await deps.clusters.get(c.name)) ?? c;
    const control = controlFor(deps.control, requesterOf(inv.principal), 'replica.switchover');
    const again = planSwitchover(now, await readCluster(control, now), {
      to: nodeKey(target),
      lagThresholdS: deps.lagThresholdS,
    });
    if (!again.ok || nodeKey(again.plan.master) !== nodeKey(master))
      return refuse(
        inv,
        `Not switched; nothing was changed (the cluster changed while you were asked):\n${(again.ok ? ['its master changed'] : again.reasons).map((r) => `• ${r}`).join('\n')}`,
      );
    let change: TopologyChange;
    try {
      change = await deps.journal!.begin({
        cluster: c.name,
        kind: 'switchover',
        from: nodeKey(master),
        to: nodeKey(target),
        actor: inv.principal.userId,
        step: 'checks',
      });
    } catch (err) {
      if (isGearopsError(err, ErrorCode.Conflict)) return refuse(inv, `Not switched: ${(err as Error).message}.`);
      throw err;
    }
    return perform(
      inv,
      now,
      change.id,
      `switching the master of *${c.name}*: ${nodeKey(master)} → ${nodeKey(target)}`,
      (d) => runSwitchover(d, now, again.plan, change.id),
    );
  }

  return async function switchover(inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
    const req = parseSwitchover(args);
    const c = await deps.clusters.get(req.cluster);
    for (const host of c ? [...new Set(c.nodes.map((n) => n.host))] : [undefined])
      authorize(deps.policy, inv.principal, { action: 'replica.switchover', host });
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${req.cluster}; see /replica list.`);
    if (!deps.journal) return refuse(inv, '/replica switchover needs the store (GEAROPS_MYSQL_URL).');
    if (c.state && c.state !== 'ready') return refuse(inv, `Not switched: cluster ${c.name} is ${c.state}.`);
    const timeoutS = deps.policy.settings.switchoverTimeoutS;
    const running = await deps.journal.running(c.name);
    if (running) return cut(inv, c, running, timeoutS);
    // to= names a node by host:port, address:port or its host name alone: resolved here, against the record.
    const to = req.to ? resolveNode(c, req.to) : undefined;
    if (to && !to.ok) return refuse(inv, `Not switched; nothing was changed:\n• ${to.reason}`);
    const control = controlFor(deps.control, requesterOf(inv.principal), 'replica.switchover');
    const planned = planSwitchover(c, await readCluster(control, c), {
      to: to?.ok ? nodeKey(to.node) : undefined,
      lagThresholdS: deps.lagThresholdS,
    });
    const reasons = planned.ok ? accountProblems(c, planned.plan) : planned.reasons;
    if (!planned.ok || reasons.length)
      return refuse(inv, `Not switched; nothing was changed:\n${reasons.map((r) => `• ${r}`).join('\n')}`);
    const { master, target } = planned.plan;
    const q =
      `Switch the master of *${c.name}* from ${nodeKey(master)} to ${nodeKey(target)} (${planned.plan.why})? ` +
      `${nodeKey(master)} becomes read-only at once; its writers have up to ${timeoutS} s to finish, then are killed; ` +
      'writes fail with errors until WRITE has moved in the pool.';
    if (!(await inv.reply.confirm(textMessage(q), { yesLabel: 'Switch over' })))
      return refuse(inv, `Not switched: ${c.name} is untouched.`);
    return locked(inv, c, () => begin(inv, c, planned.plan));
  };
}
