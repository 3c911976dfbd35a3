/**
 * The pool channel's message for one change of the load-balancer pool, the
 * same whoever made it (`/pool`, `/replica install … pool=yes`, `/replica
 * remove`, an alert's button, the monitor): server, before → after, who, why.
 */
import { mention, type ChatMessage } from './message.js';
import type { PoolChange, PoolRole } from './ports/store.js';

/** A pool type for people: READ,WRITE · READ · offline (in the pool, no type) · not in pool. */
export function showPoolType(t: PoolRole[] | null): string {
  return t === null ? 'not in pool' : t.length ? t.join(',') : 'offline';
}

/** The announcement of `ch`; `by` is how the actor is shown (default: a mention of ch.actor). */
export function poolChangeMessage(ch: PoolChange, by = mention(ch.actor)): ChatMessage {
  const server = `${ch.host}:${ch.port}`;
  const line = `Pool: ${server} ${showPoolType(ch.before)} → ${showPoolType(ch.after)} by ${by} — ${ch.reason}`;
  return {
    text: line,
    blocks: [
      { type: 'text', text: line },
      {
        type: 'fields',
        // The line says it all in plain text (the console printed it twice); Slack shows the fields as a table.
        repeatsText: true,
        fields: [
          { label: 'Server', value: server },
          { label: 'Before', value: showPoolType(ch.before) },
          { label: 'After', value: showPoolType(ch.after) },
          { label: 'By', value: by },
          { label: 'Why', value: ch.reason },
        ],
      },
    ],
  };
}
