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

/** What one poll says about a cluster's master. */
export interface LossPoll {
  /** Down to the bot, and every replica (at least one) answers with its IO thread not running. */
  lost: boolean;
  /** host:port of the replicas whose failing IO thread confirms it. */
  confirmers: string[];
}

/** What the monitor does about a loss this poll. */
export type AutoVerdict =
  | { act: 'wait'; count: number; failcount: number }
  | { act: 'too_few'; confirmers: string[] }
  | { act: 'blocked'; last: Date; until: Date }
  | { act: 'fail_over' };

/** What a failover run gives back, as far as the monitor needs it. */
export interface FailoverRunResult {
  ok: boolean;
  /** One line: what was promoted, or where it stopped and why. */
  summary: string;
}

/** How the monitor starts a failover and learns when the last one was. */
export interface AutoFailoverDeps {
  /** Runs the failover sequence (runFailover), each step reported into `report` (the master's alert thread). */
  run(
    cluster: string,
    opts: { actor: string; automatic: true; report: (text: string) => Promise<void> },
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

/**
 * Whether this poll sees the master lost: it is down (it answered that it cannot be reached, not merely late), and
 * every replica answers with its IO thread not running. A replica that did not answer confirms nothing, and then
 * the loss is not confirmed at all: what the bot cannot see, it does not count.
 */
export function masterLossPoll(nodes: ClusterNode[], statuses: Array<NodeStatus | undefined>): LossPoll {
  const mi = nodes.findIndex((n) => n.role === 'master');
  const replicas = nodes.map((n, i) => ({ n, s: statuses[i] })).filter((r) => r.n.role === 'replica');
  const confirmers = replicas.filter((r) => !!r.s && r.s.reachable && r.s.ioRunning !== 'Yes').map((r) => at(r.n));
  const masterDown = mi >= 0 && statuses[mi]?.reachable === false;
  return { lost: masterDown && replicas.length > 0 && confirmers.length === replicas.length, confirmers };
}

/** The decision for a loss seen `count` polls in a row (pure: the monitor supplies the clock and the history). */
export function autoFailoverVerdict(s: {
  count: number;
  failcount: number;
  confirmers: string[];
  last: Date | null;
  blockS: number;
  now: Date;
}): AutoVerdict {
  if (s.count < s.failcount) return { act: 'wait', count: s.count, failcount: s.failcount };
  if (s.confirmers.length < 2) return { act: 'too_few', confirmers: s.confirmers };
  if (s.last && s.now.getTime() - s.last.getTime() < s.blockS * 1000)
    return { act: 'blocked', last: s.last, until: new Date(s.last.getTime() + s.blockS * 1000) };
  return { act: 'fail_over' };
}

/** One loss of one cluster's master, as this instance has seen it. */
interface LossState {
  count: number;
  /** What was already said in the thread for this loss ('too_few', 'blocked', 'started'). */
  said: Set<string>;
}

/** Creates the monitor's automatic failover over the injected failover sequence. */
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
}): AutoFailover {
  const log = d.logger.child({ component: 'auto-failover' });
  const now = d.now ?? (() => new Date());
  const losses = new Map<string, LossState>();
  const running = new Map<string, Promise<void>>();
  /** Failovers started here, by cluster: the block holds even when the store's history is out of reach. */
  const startedHere = new Map<string, Date>();

  /** Posts into the lost master's open incident thread (or, lacking one, into the alert channel). */
  async function tell(c: ClusterRecord, master: ClusterNode, text: string): Promise<void> {
    let i: Incident | null = null;
    for (const kind of ['master_lost', 'unreachable'] as const) {
      i ??= await d.incidents.findOpen(c.name, master.host, master.port, kind).catch(() => null);
    }
    if (i?.alertChannel && i.alertTs) await d.chat.post(i.alertChannel, textMessage(text), { threadTs: i.alertTs });
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

  function start(c: ClusterRecord, master: ClusterNode, loss: LossPoll, count: number): void {
    startedHere.set(c.name, now());
    log.info({ event: 'auto_failover_started', cluster: c.name, master: at(master), count }, 'automatic failover');
    const report = (text: string) =>
      tell(c, master, text).catch((err: Error) => log.warn({ err: err.message }, 'failover step not posted'));
    const run = (async () => {
      await report(
        `⚙️ Automatic failover of ${c.name}: master ${at(master)} has been lost for ${count} polls in a row — the ` +
          `bot cannot reach it, nor can the IO threads of ${loss.confirmers.join(', ')}. auto_failover is on: ` +
          'promoting a replica now.',
      );
      const result = await d.failover
        .run(c.name, { actor: 'gearops-monitor', automatic: true, report })
        .catch((err: Error): FailoverRunResult => ({ ok: false, summary: err.message }));
      log.info({ event: 'auto_failover_ended', cluster: c.name, ok: result.ok, summary: result.summary }, 'ended');
      await report(
        result.ok
          ? `✅ Automatic failover of ${c.name} finished: ${result.summary}`
          : `❌ Automatic failover of ${c.name} did not finish: ${result.summary}. It will not be tried again ` +
              `automatically; \`/replica status ${c.name}\` shows where it stopped and \`/replica failover ${c.name}\` finishes it.`,
      );
    })().finally(() => running.delete(c.name));
    running.set(c.name, run);
  }

  async function decide(c: ClusterRecord, master: ClusterNode, loss: LossPoll, st: LossState): Promise<void> {
    const settings = d.policy.settings;
    if (!settings.autoFailover || st.said.has('started') || running.has(c.name)) return;
    if (st.count < settings.failcount) return;
    // The history is read only when it can matter: the loss held long enough and enough replicas confirm it.
    const last = loss.confirmers.length >= 2 ? await lastFailover(c.name) : null;
    const v = autoFailoverVerdict({
      count: st.count,
      failcount: settings.failcount,
      confirmers: loss.confirmers,
      last,
      blockS: settings.failoverBlockS,
      now: now(),
    });
    if (v.act === 'too_few' && !st.said.has('too_few')) {
      st.said.add('too_few');
      const who = v.confirmers.length ? `only one replica (${v.confirmers.join(', ')})` : 'no replica';
      await tell(
        c,
        master,
        `👀 Not failing over automatically: ${who} can confirm that master ${at(master)} is lost, for ` +
          `${st.count} polls now, and automatic failover needs at least two. A person should look: ` +
          `\`/replica failover ${c.name}\` promotes a replica by hand.`,
      );
    } else if (v.act === 'blocked' && !st.said.has('blocked')) {
      st.said.add('blocked');
      const ago = humanDuration(now().getTime() - v.last.getTime());
      await tell(
        c,
        master,
        `⏸️ Not failing over automatically: ${c.name} failed over ${ago} ago (${v.last.toISOString()}), and ` +
          `failover_block_s (${settings.failoverBlockS} s) allows no second automatic failover before ` +
          `${v.until.toISOString()}. A master lost again so soon may be flapping: a person should look; ` +
          `\`/replica failover ${c.name}\` does it by hand.`,
      );
    } else if (v.act === 'fail_over') {
      // Only the lock holder fails over: re-checked now, not trusted from the start of the cycle.
      if (!(await d.holdsLock().catch(() => false))) return;
      st.said.add('started');
      start(c, master, loss, st.count);
    }
  }

  return {
    async observe(c, statuses) {
      const master = c.nodes.find((n) => n.role === 'master');
      const loss = masterLossPoll(c.nodes, statuses);
      if (!master || !loss.lost) {
        losses.delete(c.name);
        return;
      }
      const st = losses.get(c.name) ?? { count: 0, said: new Set<string>() };
      st.count++;
      losses.set(c.name, st);
      await decide(c, master, loss, st).catch((err: Error) =>
        log.error({ err: err.message, cluster: c.name }, 'automatic failover decision failed; next poll tries again'),
      );
    },
    busy: (cluster) => running.has(cluster),
    async idle() {
      await Promise.all([...running.values()]);
    },
  };
}
