/** The alert thread's parent message and replies, as neutral chat messages. */
import { mention, type Button, type ChatMessage } from '../core/message.js';
import type { Incident } from '../core/ports/store.js';
import { FAULT_TITLES, MASTER_LOST_TOO } from './detect.js';

/** Formats a duration for a thread reply. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * One line naming the error, or the lag. A server error has its number; what happened without one (a node that
 * cannot be reached: refused, timed out, no answer) is said as it is, never as "Error ?".
 */
export function describeError(i: Pick<Incident, 'kind' | 'errno' | 'error' | 'lag'>): string {
  if (i.kind === 'lag') return `${i.lag ?? '?'} s behind the master`;
  if (i.errno) return `Error ${i.errno}: ${i.error ?? '(no text)'}`;
  if (i.error) return i.error.charAt(0).toUpperCase() + i.error.slice(1);
  return i.kind === 'unreachable' ? 'No answer from the server' : 'no error reported';
}

/** The parent message of an incident's thread, with its buttons while it is open. */
export function alertMessage(
  i: Incident,
  opts: { role?: string; pool: boolean; pooledOut?: boolean; promote?: string },
): ChatMessage {
  const title = `${i.cluster}: ${opts.role ?? 'node'} ${i.host}:${i.port} — ${FAULT_TITLES[i.kind]}`;
  if (i.state === 'resolved') {
    const took = i.resolvedAt ? humanDuration(i.resolvedAt.getTime() - i.openedAt.getTime()) : '?';
    return {
      text: `✅ RESOLVED after ${took}: ${title}`,
      blocks: [
        { type: 'text', text: `✅ *RESOLVED* after ${took} — ~${title}~` },
        {
          type: 'context',
          text: `was: ${describeError(i)} · opened ${i.openedAt.toISOString()} · resolved ${i.resolvedAt?.toISOString() ?? '?'}`,
        },
      ],
    };
  }
  const buttons: Button[] = [];
  if (!i.acknowledgedBy) buttons.push({ actionId: 'incident.ack', label: 'Acknowledge', value: String(i.id) });
  if (i.kind === 'io_stopped' || i.kind === 'sql_stopped' || i.kind === 'master_lost')
    buttons.push({ actionId: 'incident.restart', label: 'Restart replication', value: String(i.id), style: 'primary' });
  if (i.kind === 'sql_stopped') {
    buttons.push({
      actionId: 'incident.skip',
      label: 'Skip one event',
      value: String(i.id),
      style: 'danger',
      confirm: {
        title: 'Skip one event?',
        text: `Skips the event that stopped the SQL thread on ${i.host}:${i.port}. The replica will then differ from the master by that event.`,
        yes: 'Skip it',
        no: 'Cancel',
      },
    });
  }
  // A lost master's alert offers the failover, naming the replica it would promote (the press checks it again).
  const lostMaster =
    i.kind === 'master_lost' || (i.kind === 'unreachable' && (i.error ?? '').includes(MASTER_LOST_TOO));
  if (opts.promote && lostMaster)
    buttons.push({
      actionId: 'incident.promote',
      // Slack's limits: a button's text 75 characters, a confirmation's title 100 and its text 300.
      label: `Promote ${opts.promote}`.slice(0, 75),
      value: `${i.id}|${opts.promote}`,
      style: 'danger',
      confirm: {
        title: `Promote ${opts.promote}?`.slice(0, 100),
        text: (
          `Once the loss of ${i.host}:${i.port} is confirmed, ${opts.promote} becomes the writable master of ` +
          `${i.cluster}: the other replicas follow it, ${i.host}:${i.port} leaves the pool and ${opts.promote} gets WRITE. ` +
          'What only the lost master had is lost.'
        ).slice(0, 300),
        yes: 'Promote',
        no: 'Cancel',
      },
    });
  // Pool buttons are for replicas (the issue's "broken or lagging replica"): a master's alert is about the master.
  if (opts.pool && i.kind !== 'master_lost' && opts.role === 'replica') {
    buttons.push(
      opts.pooledOut
        ? { actionId: 'incident.poolin', label: 'Put back in pool', value: String(i.id) }
        : { actionId: 'incident.poolout', label: 'Take out of pool', value: String(i.id), style: 'danger' },
    );
  }
  return {
    text: `🔴 ${title} — ${describeError(i)}`,
    blocks: [
      { type: 'text', text: `🔴 *${title}*` },
      { type: 'code', text: describeError(i) },
      {
        type: 'context',
        text: `opened ${i.openedAt.toISOString()}${i.acknowledgedBy ? ` · acknowledged by ${mention(i.acknowledgedBy)}` : ''}${opts.pooledOut ? ' · out of the pool' : ''} · updates in this thread`,
      },
      ...(buttons.length ? [{ type: 'buttons' as const, buttons }] : []),
    ],
  };
}
