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
import type { ReplicationProbe } from '../core/ports/replication.js';
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

/** Creates the handler for every `incident.*` button. */
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
    const who = mention(inv.principal.userId);
    if (incident.state !== 'open') {
      await inv.reply.ephemeral(textMessage('This incident is already resolved; nothing was done.'));
      return { status: 'refused', host: incident.host, summary: 'already resolved' };
    }
    const cluster = await deps.store.clusters.get(incident.cluster);
    const node = cluster?.nodes.find((n) => n.host === incident.host && n.port === incident.port);
    const addr = node && cluster ? nodeAddress(cluster, node) : { address: incident.host, port: incident.port };
    const role = node?.role;
    // A node read through its host's worker is repaired there too, as the person who pressed (its policy decides).
    const asWho = {
      requester: {
        userId: inv.principal.userId,
        channelId: inv.principal.channelId,
        groups: inv.principal.groups ?? [],
        roles: inv.principal.roles,
      },
    };
    const done = (summary: string): CommandOutcome => ({
      status: 'ok',
      rule: decision.rule,
      host: incident.host,
      summary,
    });

    switch (inv.actionId) {
      case 'incident.promote':
        return promote(inv, incident, cluster?.nodes.map((n) => n.host) ?? [], decision.rule);
      case 'incident.ack': {
        await deps.store.incidents.update(incident.id, { acknowledgedBy: inv.principal.userId });
        await say(incident, `👀 Acknowledged by ${who}.`);
        if (incident.alertChannel && incident.alertTs) {
          await deps.chat.update(
            { channel: incident.alertChannel, ts: incident.alertTs },
            alertMessage(
              { ...incident, acknowledgedBy: inv.principal.userId },
              { role, pool: !!deps.store.pool, pooledOut: incident.pooledOut },
            ),
          );
        }
        return done('acknowledged');
      }
      case 'incident.restart': {
        await say(incident, `${who} pressed *Restart replication* on ${incident.host}:${incident.port}…`);
        try {
          await deps.probe.startReplication(addr, asWho);
        } catch (err) {
          await say(incident, `✗ Restart replication failed: ${(err as Error).message}`);
          return { status: 'failed', host: incident.host, summary: (err as Error).message };
        }
        const s = await deps.probe.status(addr).catch(() => null);
        await say(
          incident,
          `Replication restarted: IO ${s?.ioRunning ?? '?'}, SQL ${s?.sqlRunning ?? '?'}${s?.lastSqlErrno ? `, SQL error ${s.lastSqlErrno}: ${s.lastSqlError}` : ''}${s?.lastIoErrno ? `, IO error ${s.lastIoErrno}: ${s.lastIoError}` : ''}. The monitor resolves this thread once both threads run.`,
        );
        return done('replication restarted');
      }
      case 'incident.skip': {
        if (incident.kind !== 'sql_stopped')
          throw new GearopsError(ErrorCode.Usage, 'Skip one event is only for a stopped SQL thread.');
        await say(
          incident,
          `${who} pressed *Skip one event* on ${incident.host}:${incident.port}${incident.errno ? ` (error ${incident.errno})` : ''}…`,
        );
        try {
          await deps.probe.skipOneEvent(addr, asWho);
        } catch (err) {
          await say(incident, `✗ Skip one event failed: ${(err as Error).message}`);
          return { status: 'failed', host: incident.host, summary: (err as Error).message };
        }
        await say(incident, 'One event skipped and the SQL thread started again.');
        return done('skipped one event');
      }
      case 'incident.poolout':
      case 'incident.poolin': {
        if (!deps.store.pool) throw new GearopsError(ErrorCode.Usage, 'the pool is not configured');
        const out = inv.actionId === 'incident.poolout';
        if (role !== 'replica') {
          await inv.reply.ephemeral(
            textMessage(
              `${incident.host}:${incident.port} is not a replica: the alert's pool buttons only move replicas. Use /pool for the master; nothing was changed.`,
            ),
          );
          return { status: 'refused', host: incident.host, summary: 'not a replica' };
        }
        const row =
          (await deps.store.pool.get(addr.address, addr.port)) ??
          (await deps.store.pool.get(incident.host, incident.port));
        if (!row) {
          await inv.reply.ephemeral(
            textMessage(`${addr.address}:${addr.port} is not in the pool; nothing was changed.`),
          );
          return { status: 'refused', host: incident.host, summary: 'not in pool' };
        }
        const after: PoolRole[] = out
          ? row.type.filter((t) => t !== 'READ')
          : [...new Set<PoolRole>([...row.type, 'READ'])];
        const reason = `${out ? 'Take out of pool' : 'Put back'} from the alert on ${incident.cluster} ${incident.host}:${incident.port}`;
        const change = await deps.store.pool.set(row.host, row.port, after, inv.principal.userId, reason);
        const msg = poolChangeMessage(change, who);
        if (deps.poolChannel)
          await deps.chat
            .post(deps.poolChannel, msg)
            .catch((err) => deps.logger.warn({ err }, 'pool announcement failed'));
        await say(incident, msg.text);
        await deps.store.incidents.update(incident.id, { pooledOut: out });
        if (incident.alertChannel && incident.alertTs) {
          await deps.chat.update(
            { channel: incident.alertChannel, ts: incident.alertTs },
            alertMessage({ ...incident, pooledOut: out }, { role, pool: true, pooledOut: out }),
          );
        }
        return done(out ? 'taken out of pool' : 'put back in pool');
      }
    }
    throw new GearopsError(ErrorCode.Usage, `unknown button ${inv.actionId}`);
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
