/**
 * `/replica failover <cluster> [to=<host>]` and `/replica rejoin <cluster> <host>` (a node named by host:port,
 * address:port, or its host name alone when that names one node: src/cluster/node-spec.ts): replace a lost master
 * by its most advanced replica, and make a former master a replica of the new one. Both are policy-checked
 * (`replica.failover`, `replica.rejoin`) on every host of the cluster, ask for confirmation (`--yes` answers it in
 * the console only; Slack has the button), and tell every step with its time in the command message's thread and,
 * for a failover, in the lost master's alert thread. The sequences are src/cluster/failover.ts and rejoin.ts.
 */
import { ErrorCode, GearopsError } from '../src/errors.js';
import { textMessage, type ChatMessage } from '../src/core/message.js';
import type { ChatSink, MessageRef } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy, PolicyAction } from '../src/core/ports/policy.js';
import type { ClusterRecord, IncidentStore, TopologyChange } from '../src/core/ports/store.js';
import { nodeAddress } from '../src/core/cluster.js';
import { assessMasterLoss } from '../src/cluster/master-loss.js';
import { chooseCandidate, nodeKey, nodeNamer } from '../src/cluster/candidate.js';
import {
  explainFailover,
  FAILOVER_STEPS,
  runFailover,
  type FailoverDeps,
  type FailoverStep,
} from '../src/cluster/failover.js';
import { positionsOf } from '../src/cluster/failover-steps.js';
import { runRejoin } from '../src/cluster/rejoin.js';
import { resolveNode } from '../src/cluster/node-spec.js';
import { authorize } from '../src/core/authorize.js';
import { controlFor, type ControlAction } from '../src/core/ports/replication-control.js';
import { mention, requesterOf } from './shared.js';

/** What the two subcommands need. */
export interface FailoverCommandDeps {
  policy: Policy;
  /** The sequences' ports (cluster store, probe, control, journal, pool). */
  sequence: FailoverDeps;
  incidents?: Pick<IncidentStore, 'findOpen'>;
  chat?: ChatSink;
}

/** Usage lines of the two subcommands. */
export const FAILOVER_USAGE = [
  '/replica failover <cluster> [to=<host>|to=<host:port>]   (asks to confirm; --yes in the console)',
  '/replica rejoin <cluster> <host>|<host:port>   (asks to confirm; --yes in the console)',
];

const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,253}(?::\d{1,5})?$/;

/** A parsed `/replica failover` or `/replica rejoin`. */
export interface FailoverPlan {
  cluster: string;
  to?: string;
  node?: string;
  assumeYes: boolean;
}

/** Parses the arguments of `failover` (to=) or `rejoin` (a node); throws a usage error naming what is wrong. */
export function parseFailover(sub: 'failover' | 'rejoin', args: string[]): FailoverPlan {
  const line = FAILOVER_USAGE[sub === 'failover' ? 0 : 1]!;
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${line}`);
  const assumeYes = args.includes('--yes');
  const [cluster, ...rest] = args.filter((a) => a !== '--yes');
  if (!cluster || !NAME_RE.test(cluster))
    throw usage(`\`${(cluster ?? '').slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _).`);
  const plan: FailoverPlan = { cluster, assumeYes };
  for (const a of rest) {
    const m = sub === 'failover' ? /^to=(.*)$/.exec(a) : null;
    const value = m ? (m[1] ?? '') : a;
    if (sub === 'failover' && !m) throw usage(`unknown option \`${a.slice(0, 40)}\` (to=<host> is the option).`);
    const port = value.includes(':') ? Number(value.split(':').pop()) : 1;
    if (!NODE_RE.test(value) || port < 1 || port > 65535)
      throw usage(`\`${value.slice(0, 60)}\` is not a server's host name or host:port.`);
    if (sub === 'failover') {
      if (plan.to) throw usage('to= given twice.');
      plan.to = value;
    } else {
      if (plan.node) throw usage('name one server to rejoin.');
      plan.node = value;
    }
  }
  if (sub === 'rejoin' && !plan.node) throw usage('name the server to rejoin (its host name, or host:port).');
  return plan;
}

/**
 * Creates the two subcommands (commands/replica.ts dispatches to them). Long as a factory only: its handlers and
 * helpers are each short, and share the deps and the sequence's ports it builds once.
 */
export function createFailoverCommands(deps: FailoverCommandDeps) {
  const seq = deps.sequence;
  /** The sequence's ports acting for the person who asked: a node read through its worker is changed there. */
  const seqFor = (inv: CommandInvocation, action: ControlAction): FailoverDeps => ({
    ...seq,
    control: controlFor(seq.control, requesterOf(inv.principal), action),
  });

  /** Every host of the cluster must allow `action`; a denial throws (the router answers it, naming the rule). */
  function gate(inv: CommandInvocation, action: PolicyAction, c: ClusterRecord): void {
    for (const host of c.nodes.map((n) => n.host)) authorize(deps.policy, inv.principal, { action, host });
  }

  async function cluster(name: string): Promise<ClusterRecord> {
    const c = await seq.clusters.get(name);
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
    return c;
  }

  /** The question to ask, or the refusal to give before asking (a master that answers is refused at once). */
  async function preview(c: ClusterRecord, to?: string, s = seq): Promise<{ ask: string } | { refuse: string }> {
    const running = await seq.journal.running(c.name);
    if (running?.kind === 'failover')
      return { ask: `Finish the failover of *${c.name}*? ${await cutNote(c, running)}` };
    if (running)
      return { refuse: `cluster ${c.name} has a ${running.kind} running (#${running.id}, at step ${running.step}).` };
    const statuses = await Promise.all(c.nodes.map((n) => seq.probe.status(nodeAddress(c, n))));
    const loss = assessMasterLoss(c.nodes, statuses);
    if (!loss.lost)
      return {
        refuse: `Not failing over ${c.name}: ${loss.reason}.${loss.masterAnswers ? ' A master that answers is changed with /replica switchover.' : ''} Nothing was changed.`,
      };
    const master = c.nodes.find((n) => n.role === 'master')!;
    const asked = to ? resolveNode(c, to) : undefined;
    if (asked && !asked.ok) return { refuse: `Not failing over ${c.name}: ${asked.reason}. Nothing was changed.` };
    const choice = chooseCandidate(
      await positionsOf(
        s,
        c,
        c.nodes.filter((n) => n.role === 'replica'),
      ),
      asked?.ok ? nodeKey(asked.node) : undefined,
    );
    if (!choice.ok) return { refuse: `Not failing over ${c.name}: ${choice.reason}. Nothing was changed.` };
    const lost = choice.lostOnChosen.length
      ? ' Other replicas received transactions it does not have: they would be lost (the thread names them).'
      : '';
    return {
      ask:
        `Fail over *${c.name}*: promote ${nodeKey(choice.chosen.node)} to master? ${loss.reason}. ` +
        `The others are repointed to it, ${master.host}:${master.port} leaves the pool and ${nodeKey(choice.chosen.node)} gets WRITE.${lost}`,
    };
  }

  /** What a cut failover's question says: where it stopped, and whether its chosen replica still answers. */
  async function cutNote(c: ClusterRecord, ch: TopologyChange): Promise<string> {
    const chosen = c.nodes.find((n) => `${n.address}:${n.port}` === ch.to);
    const s = chosen ? await seq.probe.status(nodeAddress(c, chosen)).catch(() => null) : null;
    if (s?.reachable) return explainFailover(ch, nodeNamer(c));
    const promoted = FAILOVER_STEPS.indexOf(ch.step as FailoverStep) >= FAILOVER_STEPS.indexOf('promoted');
    return (
      `${explainFailover(ch, nodeNamer(c))} But ${nodeNamer(c)(ch.to)} does not answer now: ` +
      (promoted
        ? 'it was promoted, so this is a new loss of the master; the failover is ended and says so.'
        : 'it was not promoted yet, so another replica that answers is chosen instead (the thread says which).')
    );
  }

  /** Posts the head message and returns a reporter into its thread (and into the open master-lost alert's). */
  async function story(inv: CommandInvocation, c: ClusterRecord, head: string) {
    const ref = await inv.reply.post(textMessage(head));
    const master = c.nodes.find((n) => n.role === 'master');
    const alert = master
      ? await deps.incidents?.findOpen(c.name, master.host, master.port, 'master_lost').catch(() => null)
      : null;
    const report = async (text: string) => {
      await inv.reply.post(textMessage(text), { threadTs: ref.ts });
      if (alert?.alertChannel && alert.alertTs && deps.chat)
        await deps.chat.post(alert.alertChannel, textMessage(text), { threadTs: alert.alertTs }).catch(() => undefined);
    };
    return { ref, report };
  }

  const finish = async (inv: CommandInvocation, ref: MessageRef, msg: ChatMessage) =>
    inv.reply.update(ref, msg).catch(() => undefined);

  async function failover(inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
    const plan = parseFailover('failover', args);
    const c = await cluster(plan.cluster);
    gate(inv, 'replica.failover', c);
    const p = await preview(c, plan.to, seqFor(inv, 'replica.failover'));
    if ('refuse' in p) {
      await inv.reply.ephemeral(textMessage(p.refuse));
      return { status: 'refused', summary: p.refuse };
    }
    const yes =
      (plan.assumeYes && inv.source === 'console') ||
      (await inv.reply.confirm(textMessage(p.ask), { yesLabel: `Fail over ${c.name}` }));
    if (!yes) {
      await inv.reply.ephemeral(textMessage(`Not failed over: ${c.name} is untouched.`));
      return { status: 'refused', summary: 'not confirmed' };
    }
    const started = Date.now();
    const { ref, report } = await story(
      inv,
      c,
      `${mention(inv.principal.userId)} is failing over *${c.name}*… (steps in the thread)`,
    );
    const r = await runFailover(seqFor(inv, 'replica.failover'), c.name, {
      ...(plan.to ? { to: plan.to } : {}),
      actor: inv.principal.userId,
      automatic: false,
      report,
      thread: ref,
    });
    await finish(inv, ref, textMessage(`${r.ok ? '✅' : '✗'} failover of *${c.name}*: ${r.summary}`));
    return {
      status: r.ok ? 'ok' : r.refused ? 'refused' : 'failed',
      summary: r.summary,
      durationMs: Date.now() - started,
    };
  }

  async function rejoin(inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
    const plan = parseFailover('rejoin', args);
    const c = await cluster(plan.cluster);
    gate(inv, 'replica.rejoin', c);
    const master = c.nodes.find((n) => n.role === 'master');
    const question = `Rejoin ${plan.node} to *${c.name}*? It is made read_only=1 and a replica of ${master ? nodeKey(master) : 'the master'} (MASTER_USE_GTID=slave_pos), if its GTID history is contained in the master's.`;
    const yes =
      (plan.assumeYes && inv.source === 'console') ||
      (await inv.reply.confirm(textMessage(question), { yesLabel: `Rejoin ${plan.node}` }));
    if (!yes) {
      await inv.reply.ephemeral(textMessage(`Not rejoined: ${plan.node} is untouched.`));
      return { status: 'refused', summary: 'not confirmed' };
    }
    const { ref, report } = await story(
      inv,
      c,
      `${mention(inv.principal.userId)} is rejoining ${plan.node} to *${c.name}*…`,
    );
    const r = await runRejoin(seqFor(inv, 'replica.rejoin'), c.name, plan.node!, {
      actor: inv.principal.userId,
      report,
    });
    await finish(inv, ref, textMessage(`${r.ok ? '✅' : '✗'} rejoin: ${r.summary}`));
    return { status: r.ok ? 'ok' : r.refused ? 'refused' : 'failed', host: plan.node, summary: r.summary };
  }

  return { failover, rejoin };
}
