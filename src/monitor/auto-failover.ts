/**
 * Automatic failover, the monitor's side of it: counts, per cluster, the polls in a row in which the master is lost
 * (down to the bot, and every replica reachable with its IO thread failing), and once the policy's `failcount` is
 * reached runs the one failover sequence (src/cluster/failover.ts, injected as `run`) — once per loss, only while this
 * instance holds the monitor lock, never with fewer than two replicas confirming the loss, and never twice for one
 * cluster within `failover_block_s`. Every decision not to act is said in the master's alert thread, once per loss.
 */
import type { Logger } from '../log.js';
import { textMessage } from '../core/message.js';
import type { ChatSink } from '../core/ports/chat.js';
import type { Policy } from '../core/ports/policy.js';
import type { NodeStatus } from '../core/ports/replication.js';
import type { ClusterNode, ClusterRecord, Incident, IncidentStore } from '../core/ports/store.js';
import { humanDuration } from './alert-message.js';
import { assessMasterLoss, type LossAssessment } from '../cluster/master-loss.js';

/** What one poll says about a cluster's master: src/cluster/master-loss.ts's judgement (the parts used here). */
export type LossPoll = Pick<LossAssessment, 'lost' | 'confirming' | 'reason'>;

/** What the monitor does about a master that has been down for a while. */
export type AutoVerdict =
  | { act: 'wait' }
  | { act: 'blocked'; last: Date; until: Date }
  | { act: 'unconfirmed'; reason: string }
  | { act: 'too_few'; confirming: string[] }
  | { act: 'fail_over' };

/** What a failover run gives back, as far as the monitor needs it. */
export interface FailoverRunResult {
  ok: boolean;
  /** One line: what was promoted, or where it stopped and why. */
  summary: string;
  /** Nothing was done (e.g. another instance holds the cluster's topology-change lock). */
  refused?: boolean;
}

/** How the monitor starts a failover and learns when the last one was. */
export interface AutoFailoverDeps {
  /** Runs the failover sequence (runFailover), each step reported into `report` (the master's alert thread). */
  run(
    cluster: string,
    opts: {
      actor: string;
      automatic: true;
      report: (text: string) => Promise<void>;
      /** The alert thread the story is told in (journaled: fencing tells a returning old master there). */
      thread?: { channel: string; ts: string };
    },
  ): Promise<FailoverRunResult>;
  /**
   * When the cluster's last failover (automatic or by hand, finished or not) started, from the store, so that the
   * block window survives a restart and a takeover by another instance; null when it never failed over.
   */
  lastFailover(cluster: string): Promise<Date | null>;
}

/** The monitor's automatic failover. */
export interface AutoFailover {
  /** Called once per poll of a cluster with every node's status (undefined: did not answer in time). */
  observe(c: ClusterRecord, statuses: Array<NodeStatus | undefined>): Promise<void>;
  /** True while a failover of `cluster` started here runs (the monitor leaves the cluster alone meanwhile). */
  busy(cluster: string): boolean;
  /** Resolves once every failover started here has ended. */
  idle(): Promise<void>;
}

const at = (n: Pick<ClusterNode, 'host' | 'port'>) => `${n.host}:${n.port}`;

/** Where a failover's story is told. */
type Thread = { channel: string; ts: string } | undefined;

/**
 * The decision for a master down `down` polls in a row, `lost` of the last of them confirmed by every replica
 * (pure: the monitor supplies the clock and the history). The block comes first: a master lost again within the
 * window is said to be so whatever else holds.
 */
export function autoFailoverVerdict(s: {
  down: number;
  lost: number;
  failcount: number;
  poll: LossPoll;
  last: Date | null;
  blockS: number;
  now: Date;
}): AutoVerdict {
  if (s.down < s.failcount) return { act: 'wait' };
  if (s.last && s.now.getTime() - s.last.getTime() < s.blockS * 1000)
    return { act: 'blocked', last: s.last, until: new Date(s.last.getTime() + s.blockS * 1000) };
  if (!s.poll.lost) return { act: 'unconfirmed', reason: s.poll.reason };
  if (s.lost < s.failcount) return { act: 'wait' };
  if (s.poll.confirming.length < 2) return { act: 'too_few', confirming: s.poll.confirming };
  return { act: 'fail_over' };
}

/** One loss of one cluster's master, as this instance has seen it. */
interface LossState {
  /** Polls in a row the master was down to the bot. */
  down: number;
  /** Of those, the last polls in a row in which every replica confirmed it. */
  lost: number;
  /** What was already said in the thread for this loss (a verdict's act, or 'started'). */
  said: Set<string>;
}

/**
 * Creates the monitor's automatic failover over the injected failover sequence. Long as a factory only: its
 * methods are short and share the per-cluster block times and what was already said.
 */
export function createAutoFailover(d: {
  failover: AutoFailoverDeps;
  policy: Policy;
  incidents: Pick<IncidentStore, 'findOpen'>;
  chat: ChatSink;
  alertChannel: string;
  /** Takes or re-checks the monitor lock: true while this instance holds it. */
  holdsLock(): Promise<boolean>;
  logger: Logger;
  now?: () => Date;
  /** Judges one poll (default: assessMasterLoss, as /replica failover judges). */
  assess?: (nodes: ClusterNode[], statuses: Array<NodeStatus | undefined>) => LossPoll;
}): AutoFailover {
  const log = d.logger.child({ component: 'auto-failover' });
  const now = d.now ?? (() => new Date());
  const assess = d.assess ?? assessMasterLoss;
  const losses = new Map<string, LossState>();
  const running = new Map<string, Promise<void>>();
  /** Failovers started here, by cluster: the block holds even when the store's history is out of reach. */
  const startedHere = new Map<string, Date>();

  /** The lost master's open incident thread (master_lost, or unreachable before the replicas noticed). */
  async function threadOf(c: ClusterRecord, master: ClusterNode): Promise<Thread> {
    let i: Incident | null = null;
    for (const kind of ['master_lost', 'unreachable'] as const) {
      i ??= await d.incidents.findOpen(c.name, master.host, master.port, kind).catch(() => null);
    }
    return i?.alertChannel && i.alertTs ? { channel: i.alertChannel, ts: i.alertTs } : undefined;
  }

  /** Posts into that thread (or, lacking one, into the alert channel). */
  async function tell(c: ClusterRecord, master: ClusterNode, text: string): Promise<void> {
    const t = await threadOf(c, master);
    if (t) await d.chat.post(t.channel, textMessage(text), { threadTs: t.ts });
    else await d.chat.post(d.alertChannel, textMessage(`${c.name}: ${text}`));
  }

  async function lastFailover(cluster: string): Promise<Date | null> {
    const stored = await d.failover.lastFailover(cluster).catch((err: Error) => {
      log.warn({ err: err.message, cluster }, 'failover history unreadable; using what this instance knows');
      return null;
    });
    const here = startedHere.get(cluster) ?? null;
    if (!stored) return here;
    return here && here > stored ? here : stored;
  }

  function start(c: ClusterRecord, master: ClusterNode, poll: LossPoll, st: LossState, thread: Thread): void {
    startedHere.set(c.name, now());
    log.info({ event: 'auto_failover_started', cluster: c.name, master: at(master), polls: st.lost }, 'failover');
    const report = (text: string) =>
      tell(c, master, text).catch((err: Error) => log.warn({ err: err.message }, 'failover step not posted'));
    const run = (async () => {
      await report(
        `⚙️ Automatic failover of ${c.name}: master ${at(master)} has been lost for ${st.lost} polls in a row — the ` +
          `bot cannot reach it, nor can the IO threads of ${poll.confirming.join(', ')}. auto_failover is on: ` +
          'promoting a replica now.',
      );
      const result = await d.failover
        .run(c.name, { actor: 'gearops-monitor', automatic: true, report, ...(thread ? { thread } : {}) })
        .catch((err: Error): FailoverRunResult => ({ ok: false, summary: err.message }));
      log.info({ event: 'auto_failover_ended', cluster: c.name, ok: result.ok, summary: result.summary }, 'ended');
      await report(
        result.ok
          ? `✅ Automatic failover of ${c.name} finished: ${result.summary}`
          : result.refused
            ? `⏸️ Automatic failover of ${c.name} not started, nothing was changed: ${result.summary}. It will not be ` +
              `tried again automatically for this loss; \`/replica status ${c.name}\` shows the state.`
            : `❌ Automatic failover of ${c.name} did not finish: ${result.summary}. It will not be tried again ` +
              `automatically; \`/replica status ${c.name}\` shows where it stopped and \`/replica failover ${c.name}\` finishes it.`,
      );
    })().finally(() => running.delete(c.name));
    running.set(c.name, run);
  }

  /** What the thread is told, once per loss, when the monitor will not fail over by itself. */
  function why(c: ClusterRecord, master: ClusterNode, v: AutoVerdict, st: LossState): string | null {
    const byHand = `A person should look: \`/replica failover ${c.name}\` promotes a replica by hand.`;
    if (v.act === 'blocked') {
      const ago = humanDuration(now().getTime() - v.last.getTime());
      return (
        `⏸️ Not failing over automatically: ${c.name} failed over ${ago} ago (${v.last.toISOString()}), and ` +
        `failover_block_s (${d.policy.settings.failoverBlockS} s) allows no second automatic failover before ` +
        `${v.until.toISOString()}. A master lost again so soon may be flapping. ${byHand}`
      );
    }
    if (v.act === 'unconfirmed')
      return `👀 Not failing over automatically after ${st.down} polls: ${v.reason}. ${byHand}`;
    if (v.act === 'too_few') {
      const who = v.confirming.length ? `only one replica (${v.confirming.join(', ')})` : 'no replica';
      return (
        `👀 Not failing over automatically: ${who} can confirm that master ${at(master)} is lost, for ` +
        `${st.lost} polls now, and automatic failover needs at least two. ${byHand}`
      );
    }
    return null;
  }

  async function decide(c: ClusterRecord, master: ClusterNode, poll: LossPoll, st: LossState): Promise<void> {
    const settings = d.policy.settings;
    if (!settings.autoFailover || st.said.has('started') || running.has(c.name)) return;
    if (st.down < settings.failcount) return;
    const v = autoFailoverVerdict({
      ...st,
      failcount: settings.failcount,
      poll,
      // Read only once the master has been down long enough for it to matter.
      last: await lastFailover(c.name),
      blockS: settings.failoverBlockS,
      now: now(),
    });
    const text = why(c, master, v, st);
    if (text && !st.said.has(v.act)) {
      st.said.add(v.act);
      await tell(c, master, text);
    } else if (v.act === 'fail_over') {
      // Only the lock holder fails over: re-checked now, not trusted from the start of the cycle.
      if (!(await d.holdsLock().catch(() => false))) return;
      st.said.add('started');
      start(c, master, poll, st, await threadOf(c, master));
    }
  }

  return {
    async observe(c, statuses) {
      const mi = c.nodes.findIndex((n) => n.role === 'master');
      const master = c.nodes[mi];
      // Down, not merely late: a master that did not answer in time this poll starts the count again.
      if (!master || statuses[mi]?.reachable !== false) {
        losses.delete(c.name);
        return;
      }
      const poll = assess(c.nodes, statuses);
      const st = losses.get(c.name) ?? { down: 0, lost: 0, said: new Set<string>() };
      st.down++;
      st.lost = poll.lost ? st.lost + 1 : 0;
      losses.set(c.name, st);
      await decide(c, master, poll, st).catch((err: Error) =>
        log.error({ err: err.message, cluster: c.name }, 'automatic failover decision failed; next poll tries again'),
      );
    },
    busy: (cluster) => running.has(cluster),
    async idle() {
      await Promise.all([...running.values()]);
    },
  };
}
