/**
 * The buttons on an alert: Acknowledge, Restart replication, Skip one event,
 * Take out of pool / Put back, Promote <host:port> (a lost master's failover). Each is checked against the policy and
 * recorded in the incident's thread (the router writes the audit row).
 */
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { mention, textMessage } from '../core/message.js';
import type { ChatSink } from '../core/ports/chat.js';
import type { ActionHandler, ActionInvocation, CommandOutcome } from '../core/ports/commands.js';
import type { Policy, PolicyAction } from '../core/ports/policy.js';
import type { NodeAddress, ReplicationProbe } from '../core/ports/replication.js';
import type { Requester } from '../core/ports/dispatcher.js';
import type { Incident, PoolRole, Store } from '../core/ports/store.js';
import { poolChangeMessage } from '../core/pool-message.js';
import { alertMessage } from './alert-message.js';
import { nodeAddress } from '../core/cluster.js';
import { authorize } from '../core/authorize.js';
import { runFailover, type FailoverDeps } from '../cluster/failover.js';
import { controlFor } from '../core/ports/replication-control.js';

/** Dependencies of the incident buttons. */
export interface IncidentActionDeps {
  store: Pick<Store, 'clusters' | 'incidents' | 'pool'>;
  probe: ReplicationProbe;
  policy: Policy;
  chat: ChatSink;
  poolChannel?: string;
  logger: Logger;
  /** The failover's ports, for Promote; absent: the button says failover is not configured. */
  failover?: FailoverDeps;
}

const ACTIONS: Record<string, PolicyAction> = {
  'incident.ack': 'incident.ack',
  'incident.restart': 'replica.restart',
  'incident.skip': 'replica.skip',
  'incident.poolout': 'pool.offline',
  'incident.poolin': 'pool.set',
  'incident.promote': 'replica.failover',
};

/** What every button but Promote works from: the press, its open incident, and the node it names. */
interface Pressed {
  inv: ActionInvocation;
  incident: Incident;
  /** The presser, as a mention. */
  who: string;
  addr: NodeAddress;
  role?: string;
  /** Who pressed, for a repair run by the node's host worker. */
  asWho: { requester: Requester };
  done: (summary: string) => CommandOutcome;
}

/**
 * Creates the handler for every `incident.*` button. Long as a factory only: one short function per button, over
 * the deps they share.
 */
export function createIncidentActions(deps: IncidentActionDeps): Record<string, ActionHandler> {
  async function say(i: Incident, text: string): Promise<void> {
    if (i.alertChannel && i.alertTs) await deps.chat.post(i.alertChannel, textMessage(text), { threadTs: i.alertTs });
  }

  async function handle(inv: ActionInvocation): Promise<CommandOutcome> {
    const action = ACTIONS[inv.actionId];
    if (!action) throw new GearopsError(ErrorCode.Usage, `unknown button ${inv.actionId}`);
    // Promote's value also names the replica: `<id>|<host:port>`.
    const id = Number(inv.value.split('|')[0]);
    const incident = Number.isInteger(id) ? await deps.store.incidents.get(id) : null;
    if (!incident) throw new GearopsError(ErrorCode.NotFound, `incident ${inv.value.slice(0, 20)} does not exist`);
    const decision = authorize(deps.policy, inv.principal, { action, host: incident.host });
    if (incident.state !== 'open') {
      await inv.reply.ephemeral(textMessage('This incident is already resolved; nothing was done.'));
      return { status: 'refused', host: incident.host, summary: 'already resolved' };
    }
    const cluster = await deps.store.clusters.get(incident.cluster);
    if (inv.actionId === 'incident.promote')
      return promote(inv, incident, cluster?.nodes.map((n) => n.host) ?? [], decision.rule);
    const node = cluster?.nodes.find((n) => n.host === incident.host && n.port === incident.port);
    const p: Pressed = {
      inv,
      incident,
      who: mention(inv.principal.userId),
      addr: node && cluster ? nodeAddress(cluster, node) : { address: incident.host, port: incident.port },
      role: node?.role,
      // A node read through its host's worker is repaired there too, as the person who pressed (its policy decides).
      asWho: {
        requester: {
          userId: inv.principal.userId,
          channelId: inv.principal.channelId,
          groups: inv.principal.groups ?? [],
          roles: inv.principal.roles,
        },
      },
      done: (summary) => ({ status: 'ok', rule: decision.rule, host: incident.host, summary }),
    };
    switch (inv.actionId) {
      case 'incident.ack':
        return acknowledge(p);
      case 'incident.restart':
        return restart(p);
      case 'incident.skip':
        return skip(p);
      case 'incident.poolout':
      case 'incident.poolin':
        return movePool(p, inv.actionId === 'incident.poolout');
    }
    throw new GearopsError(ErrorCode.Usage, `unknown button ${inv.actionId}`);
  }

  async function acknowledge(p: Pressed): Promise<CommandOutcome> {
    await deps.store.incidents.update(p.incident.id, { acknowledgedBy: p.inv.principal.userId });
    await say(p.incident, `👀 Acknowledged by ${p.who}.`);
    if (p.incident.alertChannel && p.incident.alertTs) {
      await deps.chat.update(
        { channel: p.incident.alertChannel, ts: p.incident.alertTs },
        alertMessage(
          { ...p.incident, acknowledgedBy: p.inv.principal.userId },
          { role: p.role, pool: !!deps.store.pool, pooledOut: p.incident.pooledOut },
        ),
      );
    }
    return p.done('acknowledged');
  }

  async function restart(p: Pressed): Promise<CommandOutcome> {
    await say(p.incident, `${p.who} pressed *Restart replication* on ${p.incident.host}:${p.incident.port}…`);
    try {
      await deps.probe.startReplication(p.addr, p.asWho);
    } catch (err) {
      await say(p.incident, `✗ Restart replication failed: ${(err as Error).message}`);
      return { status: 'failed', host: p.incident.host, summary: (err as Error).message };
    }
    const s = await deps.probe.status(p.addr).catch(() => null);
    await say(
      p.incident,
      `Replication restarted: IO ${s?.ioRunning ?? '?'}, SQL ${s?.sqlRunning ?? '?'}${s?.lastSqlErrno ? `, SQL error ${s.lastSqlErrno}: ${s.lastSqlError}` : ''}${s?.lastIoErrno ? `, IO error ${s.lastIoErrno}: ${s.lastIoError}` : ''}. The monitor resolves this thread once both threads run.`,
    );
    return p.done('replication restarted');
  }

  async function skip(p: Pressed): Promise<CommandOutcome> {
    if (p.incident.kind !== 'sql_stopped')
      throw new GearopsError(ErrorCode.Usage, 'Skip one event is only for a stopped SQL thread.');
    await say(
      p.incident,
      `${p.who} pressed *Skip one event* on ${p.incident.host}:${p.incident.port}${p.incident.errno ? ` (error ${p.incident.errno})` : ''}…`,
    );
    try {
      await deps.probe.skipOneEvent(p.addr, p.asWho);
    } catch (err) {
      await say(p.incident, `✗ Skip one event failed: ${(err as Error).message}`);
      return { status: 'failed', host: p.incident.host, summary: (err as Error).message };
    }
    await say(p.incident, 'One event skipped and the SQL thread started again.');
    return p.done('skipped one event');
  }

  /** Take out of pool (`out`) or Put back: a replica's READ, announced in the pool channel and the thread. */
  async function movePool(p: Pressed, out: boolean): Promise<CommandOutcome> {
    if (!deps.store.pool) throw new GearopsError(ErrorCode.Usage, 'the pool is not configured');
    if (p.role !== 'replica') {
      await p.inv.reply.ephemeral(
        textMessage(
          `${p.incident.host}:${p.incident.port} is not a replica: the alert's pool buttons only move replicas. Use /pool for the master; nothing was changed.`,
        ),
      );
      return { status: 'refused', host: p.incident.host, summary: 'not a replica' };
    }
    const row =
      (await deps.store.pool.get(p.addr.address, p.addr.port)) ??
      (await deps.store.pool.get(p.incident.host, p.incident.port));
    if (!row) {
      await p.inv.reply.ephemeral(
        textMessage(`${p.addr.address}:${p.addr.port} is not in the pool; nothing was changed.`),
      );
      return { status: 'refused', host: p.incident.host, summary: 'not in pool' };
    }
    const after: PoolRole[] = out
      ? row.type.filter((t) => t !== 'READ')
      : [...new Set<PoolRole>([...row.type, 'READ'])];
    const reason = `${out ? 'Take out of pool' : 'Put back'} from the alert on ${p.incident.cluster} ${p.incident.host}:${p.incident.port}`;
    const change = await deps.store.pool.set(row.host, row.port, after, p.inv.principal.userId, reason);
    const msg = poolChangeMessage(change, p.who);
    if (deps.poolChannel)
      await deps.chat.post(deps.poolChannel, msg).catch((err) => deps.logger.warn({ err }, 'pool announcement failed'));
    await say(p.incident, msg.text);
    await deps.store.incidents.update(p.incident.id, { pooledOut: out });
    if (p.incident.alertChannel && p.incident.alertTs) {
      await deps.chat.update(
        { channel: p.incident.alertChannel, ts: p.incident.alertTs },
        alertMessage({ ...p.incident, pooledOut: out }, { role: p.role, pool: true, pooledOut: out }),
      );
    }
    return p.done(out ? 'taken out of pool' : 'put back in pool');
  }

  /** Promote <host:port>: the failover to that replica, told in the alert's thread; every host of the cluster checked. */
  async function promote(
    inv: ActionInvocation,
    incident: Incident,
    hosts: string[],
    rule?: string,
  ): Promise<CommandOutcome> {
    const to = inv.value.split('|')[1] ?? '';
    for (const host of hosts) authorize(deps.policy, inv.principal, { action: 'replica.failover', host });
    if (!deps.failover) throw new GearopsError(ErrorCode.Usage, 'failover is not configured on this bot (no store)');
    await say(incident, `${mention(inv.principal.userId)} pressed *Promote ${to}* (confirmed)…`);
    // A replica read through its host's worker is changed there, as the person who pressed (its policy decides).
    const requester = {
      userId: inv.principal.userId,
      channelId: inv.principal.channelId,
      groups: inv.principal.groups ?? [],
      roles: inv.principal.roles,
    };
    const seq = { ...deps.failover, control: controlFor(deps.failover.control, requester, 'replica.failover') };
    const r = await runFailover(seq, incident.cluster, {
      to,
      actor: inv.principal.userId,
      automatic: false,
      report: (text) => say(incident, text),
      ...(incident.alertChannel && incident.alertTs
        ? { thread: { channel: incident.alertChannel, ts: incident.alertTs } }
        : {}),
    });
    if (r.refused) await say(incident, `✗ ${r.summary}`);
    return { status: r.ok ? 'ok' : r.refused ? 'refused' : 'failed', rule, host: incident.host, summary: r.summary };
  }

  return { 'incident.': handle };
}
