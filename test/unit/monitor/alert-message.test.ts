import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/core/ports/store.js';
import { alertMessage } from '../../../src/monitor/alert-message.js';

const incident = (patch: Partial<Incident> = {}): Incident => ({
  id: 7,
  cluster: 'demo',
  host: '127.0.0.1',
  port: 5001,
  kind: 'sql_stopped',
  state: 'open',
  errno: 1062,
  error: "Duplicate entry '1' for key 'PRIMARY'",
  lag: null,
  openedAt: new Date('2026-11-24T10:00:00Z'),
  resolvedAt: null,
  alertChannel: 'CALERTS',
  alertTs: '1.2',
  acknowledgedBy: null,
  pooledOut: false,
  ...patch,
});

const actions = (m: ReturnType<typeof alertMessage>) =>
  m.blocks?.flatMap((b) => (b.type === 'buttons' ? b.buttons.map((x) => x.actionId) : [])) ?? [];

describe('alertMessage buttons', () => {
  it('offers ack, restart, a confirmed skip and take-out-of-pool on a broken replica', () => {
    const m = alertMessage(incident(), { role: 'replica', pool: true });
    expect(actions(m)).toEqual(['incident.ack', 'incident.restart', 'incident.skip', 'incident.poolout']);
    expect(m.text).toContain('1062');
  });

  it('offers put-back once the replica is out of the pool, and no skip for an IO fault', () => {
    expect(
      actions(
        alertMessage(incident({ kind: 'io_stopped', pooledOut: true }), {
          role: 'replica',
          pool: true,
          pooledOut: true,
        }),
      ),
    ).toEqual(['incident.ack', 'incident.restart', 'incident.poolin']);
  });

  it('offers no pool button for a master, nor without a pool', () => {
    expect(
      actions(
        alertMessage(incident({ kind: 'unreachable', errno: null, error: 'connect ECONNREFUSED' }), {
          role: 'master',
          pool: true,
        }),
      ),
    ).toEqual(['incident.ack']);
    expect(actions(alertMessage(incident({ kind: 'master_lost' }), { role: 'master', pool: true }))).toEqual([
      'incident.ack',
      'incident.restart',
    ]);
    expect(actions(alertMessage(incident({ kind: 'lag', lag: 45 }), { role: 'replica', pool: false }))).toEqual([
      'incident.ack',
    ]);
  });

  it('drops every button once resolved', () => {
    const m = alertMessage(incident({ state: 'resolved', resolvedAt: new Date('2026-11-24T10:02:05Z') }), {
      role: 'replica',
      pool: true,
    });
    expect(actions(m)).toEqual([]);
    expect(m.text.startsWith('✅ RESOLVED after 2 min 5 s: demo: replica 127.0.0.1:5001 — ')).toBe(true);
  });
});

describe('alert wording', () => {
  it('says what happened to an unreachable node, never "Error ?"', () => {
    const error = 'the server at 127.0.0.1:5001 is unavailable: ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5001';
    const m = alertMessage(incident({ kind: 'unreachable', errno: null, error }), { role: 'replica', pool: true });
    expect(m.text).toBe(
      '🔴 demo: replica 127.0.0.1:5001 — node unreachable — The server at 127.0.0.1:5001 is unavailable: ' +
        'ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5001',
    );
    const shown = [m.text, ...(m.blocks ?? []).map((b) => ('text' in b ? b.text : ''))].join('\n');
    expect(shown).not.toMatch(/Error \?/);
    const silent = alertMessage(incident({ kind: 'unreachable', errno: null, error: null }), {
      role: 'master',
      pool: true,
    });
    expect(silent.text).toMatch(/node unreachable — No answer from the server$/);
    // A server error keeps its number.
    expect(alertMessage(incident(), { role: 'replica', pool: true }).text).toMatch(/— Error 1062: Duplicate entry/);
  });
});
