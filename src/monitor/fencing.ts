/**
 * Fencing: a master that was failed away from and comes back (its mariadbd restarted, its host rebooted, a network
 * split healed) still believes it is the master, and takes writes if anything sends them. Every poll, each former
 * master of a cluster that is not its master now is read; answering with read_only=0 it is made read_only=1 at once,
 * and it never keeps WRITE (nor READ: its data may have diverged) in the pool. The failover's thread is told.
 */
import type { Logger } from '../log.js';
import { textMessage } from '../core/message.js';
import type { ChatSink } from '../core/ports/chat.js';
import type { NodeAddress, NodeStatus, ReplicationProbe } from '../core/ports/replication.js';
import type { ClusterRecord, PoolStore } from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { poolChangeMessage } from '../core/pool-message.js';

/** A server a failover of the cluster moved the master away from. */
export interface FormerMaster {
  host: string;
  address: string;
  port: number;
  /** When that failover started. */
  since: Date;
  /** The thread that told that failover, when known (else the alert channel gets a message of its own). */
  thread?: { channel: string; ts: string };
  /**
   * The failover is still running past its promotion (the bot died half-way): the record still names this server
   * the master, yet another one is writable, so it is fenced even so.
   */
  inFlight?: boolean;
}

/** What fencing reads of a journaled topology change (the store's TopologyChange has these fields). */
export interface JournaledChange {
  kind: string;
  /** address:port of the master it moved from (rejoin: the node that rejoined). */
  from: string;
  /** address:port of the new master (rejoin: the master it rejoined). */
  to: string;
  state: string;
  step: string;
  startedAt: Date;
  detail: Record<string, unknown>;
}

/** Failover steps after which the new master is writable (src/cluster/failover.ts's order). */
const PROMOTED = new Set(['promoted', 'repointed', 'pool', 'recorded']);

/**
 * The former masters a cluster's journal names (newest change first): a server whose latest change is a failover
 * away from it that promoted another (done, or running past its promotion). A later switchover, rejoin or
 * promotion that names the server settles it: it is then a replica or the master, not a fenced former master.
 */
export function formerMastersFrom(changes: JournaledChange[], c: ClusterRecord): FormerMaster[] {
  const settled = new Set<string>();
  const out: FormerMaster[] = [];
  for (const ch of changes) {
    const from = ch.from;
    if (
      ch.kind === 'failover' &&
      !settled.has(from) &&
      (ch.state === 'done' || (ch.state === 'running' && PROMOTED.has(ch.step)))
    ) {
      const i = from.lastIndexOf(':');
      const address = from.slice(0, i);
      const port = Number(from.slice(i + 1));
      const node = c.nodes.find((n) => n.address === address && n.port === port);
      const t = ch.detail.thread as { channel?: unknown; ts?: unknown } | undefined;
      out.push({
        host: node?.host ?? address,
        address,
        port,
        since: ch.startedAt,
        ...(typeof t?.channel === 'string' && typeof t.ts === 'string'
          ? { thread: { channel: t.channel, ts: t.ts } }
          : {}),
        ...(ch.state === 'running' ? { inFlight: true } : {}),
      });
    }
    // Only a change that happened (or is happening) settles its servers: a failed or rolled-back one changed nothing.
    if (ch.state === 'done' || ch.state === 'running') {
      settled.add(ch.from);
      settled.add(ch.to);
    }
  }
  return out;
}

/**
 * Former masters from the change journal, read again when the cluster's record changes (a failover, a rejoin or a
 * switchover rewrites it) or after `refreshMs` (default 5 s), not at every poll.
 */
export function journalFormerMasters(
  journal: { recent(cluster: string, limit: number): Promise<JournaledChange[]> },
  opts: { refreshMs?: number; now?: () => number } = {},
): (c: ClusterRecord) => Promise<FormerMaster[]> {
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { key: string; at: number; value: FormerMaster[] }>();
  return async (c) => {
    const key = JSON.stringify(c.nodes);
    const hit = cache.get(c.name);
    if (hit && hit.key === key && now() - hit.at < (opts.refreshMs ?? 5000)) return hit.value;
    const value = formerMastersFrom(await journal.recent(c.name, 20), c);
    cache.set(c.name, { key, at: now(), value });
    return value;
  };
}

/** Where former masters come from, and how one is made read-only. */
export interface FencingDeps {
  /** The cluster's former masters (from the change journal's failovers). */
  formerMasters(c: ClusterRecord): Promise<FormerMaster[]>;
  /** SET GLOBAL read_only=1 on `node` (ReplicationControl). */
  setReadOnly(node: NodeAddress): Promise<void>;
}

/** The monitor's fencing of returning former masters. */
export interface Fencing {
  /** Called once per poll of a cluster, with the statuses the poll read (undefined: did not answer in time). */
  check(c: ClusterRecord, statuses: Array<NodeStatus | undefined>): Promise<void>;
  /** The cluster's former masters to fence (none when they cannot be read this poll). */
  former(c: ClusterRecord): Promise<FormerMaster[]>;
}

const at = (n: { host: string; port: number }) => `${n.host}:${n.port}`;

/**
 * Creates fencing over the injected journal and control. Long as a factory only: its methods are short and share
 * what each returning master was already told.
 */
export function createFencing(d: {
  fencing: FencingDeps;
  probe: Pick<ReplicationProbe, 'status'>;
  pool?: Pick<PoolStore, 'get' | 'set'>;
  chat: ChatSink;
  alertChannel: string;
  poolChannel?: string;
  logger: Logger;
  /** How long a former master not in the record may take to answer (default 2 s). */
  deadlineMs?: number;
}): Fencing {
  const log = d.logger.child({ component: 'fencing' });
  /** Former masters last seen down (by cluster, host:port): the next answer is a return, told once. */
  const down = new Set<string>();

  async function tell(c: ClusterRecord, fm: FormerMaster, text: string): Promise<void> {
    if (fm.thread) await d.chat.post(fm.thread.channel, textMessage(text), { threadTs: fm.thread.ts });
    else await d.chat.post(d.alertChannel, textMessage(`${c.name}: ${text}`));
  }

  async function statusOf(c: ClusterRecord, fm: FormerMaster, statuses: Array<NodeStatus | undefined>) {
    const i = c.nodes.findIndex((n) => n.port === fm.port && (n.host === fm.host || n.address === fm.address));
    if (i >= 0) return { s: statuses[i], addr: nodeAddress(c, c.nodes[i]!) };
    const addr = nodeAddress(c, {
      host: fm.host,
      address: fm.address,
      port: fm.port,
      role: 'replica',
      serverId: 0,
      sandbox: '',
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), d.deadlineMs ?? 2000)));
    const s = await Promise.race([d.probe.status(addr).catch(() => undefined), late]).finally(() =>
      clearTimeout(timer),
    );
    return { s, addr };
  }

  /** A former master keeps no place in the pool: WRITE would make two, and its data may differ from the new master's. */
  async function unpool(c: ClusterRecord, fm: FormerMaster): Promise<string | null> {
    if (!d.pool) return null;
    const row =
      (await d.pool.get(fm.address, fm.port).catch(() => null)) ??
      (fm.host !== fm.address ? await d.pool.get(fm.host, fm.port).catch(() => null) : null);
    if (!row || row.type.length === 0) return null;
    const change = await d.pool.set(row.host, row.port, [], 'gearops-monitor', `fenced: former master of ${c.name}`);
    const msg = poolChangeMessage(change, 'the monitor');
    if (d.poolChannel) await d.chat.post(d.poolChannel, msg).catch(() => undefined);
    return msg.text;
  }

  async function fence(c: ClusterRecord, fm: FormerMaster, statuses: Array<NodeStatus | undefined>) {
    const k = `${c.name}\u0000${at(fm)}`;
    const { s, addr } = await statusOf(c, fm, statuses);
    if (!s) return;
    if (!s.reachable) {
      down.add(k);
      return;
    }
    const pooled = await unpool(c, fm);
    const rejoin = `\`/replica rejoin ${c.name} ${at(fm)}\` makes it a replica of the new master`;
    if (s.readOnly === false) {
      await d.fencing.setReadOnly(addr);
      log.warn({ event: 'former_master_fenced', cluster: c.name, node: at(fm) }, 'former master made read-only');
      await tell(
        c,
        fm,
        `🛡️ ${at(fm)}, the master before the failover, is back and was writable: made it read_only=1 at once. ` +
          `It gets no WRITE in the pool. ${rejoin} (when its history is contained in the new master's).` +
          (pooled ? `\n${pooled}` : ''),
      );
      down.delete(k);
    } else if (down.has(k) || pooled) {
      await tell(
        c,
        fm,
        `🛡️ ${at(fm)}, the master before the failover, is back, read-only (read_only=1). It gets no WRITE in the ` +
          `pool. ${rejoin}.` +
          (pooled ? `\n${pooled}` : ''),
      );
      down.delete(k);
    }
  }

  const formerOf = (c: ClusterRecord) =>
    d.fencing.formerMasters(c).catch((err: Error) => {
      log.warn({ err: err.message, cluster: c.name }, 'former masters unknown this poll');
      return [] as FormerMaster[];
    });
  return {
    former: formerOf,
    async check(c, statuses) {
      const master = c.nodes.find((n) => n.role === 'master');
      const former = await formerOf(c);
      const seen = new Set<string>();
      for (const fm of former) {
        // The current master is never fenced, whatever its history (a switchover may have made it master again).
        const isMaster = master?.port === fm.port && (master.host === fm.host || master.address === fm.address);
        if (isMaster && !fm.inFlight) continue;
        if (seen.has(at(fm))) continue;
        seen.add(at(fm));
        await fence(c, fm, statuses).catch((err: Error) =>
          log.error({ err: err.message, cluster: c.name, node: at(fm) }, 'fencing failed; next poll tries again'),
        );
      }
    },
  };
}
