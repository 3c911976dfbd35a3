import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/core/ports/store.js';
import { unreachableStatus, type NodeStatus } from '../../../src/core/ports/replication.js';
import { alertMessage } from '../../../src/monitor/alert-message.js';
import { MASTER_LOST_TOO } from '../../../src/monitor/detect.js';
import { promoteCandidate } from '../../../src/cluster/candidate.js';

const incident = (patch: Partial<Incident> = {}): Incident => ({
  id: 9,
  cluster: 'demo',
  host: 'db1',
  port: 3306,
  kind: 'master_lost',
  state: 'open',
  errno: 2003,
  error: "Can't connect",
  lag: null,
  openedAt: new Date('2026-11-24T10:00:00Z'),
  resolvedAt: null,
  alertChannel: 'CALERTS',
  alertTs: '1.2',
  acknowledgedBy: null,
  pooledOut: false,
  ...patch,
});
const buttons = (m: ReturnType<typeof alertMessage>) =>
  m.blocks?.flatMap((b) => (b.type === 'buttons' ? b.buttons : [])) ?? [];

describe('the Promote button on a lost master', () => {
  it('names the replica, carries it in its value, and asks for confirmation', () => {
    const b = buttons(alertMessage(incident(), { role: 'master', pool: true, promote: 'db3:3306' }));
    const p = b.find((x) => x.actionId === 'incident.promote');
    expect(p?.label).toBe('Promote db3:3306');
    expect(p?.value).toBe('9|db3:3306');
    expect(p?.confirm?.title).toBe('Promote db3:3306?');
    expect(p?.confirm?.text).toMatch(/db1:3306 leaves the pool and db3:3306 gets WRITE/);
  });

  it('is on an unreachable master the replicas confirm lost, and on no other alert', () => {
    const escalated = incident({ kind: 'unreachable', error: `timed out — ${MASTER_LOST_TOO}` });
    expect(
      buttons(alertMessage(escalated, { role: 'master', pool: false, promote: 'db3:3306' })).map((x) => x.actionId),
    ).toContain('incident.promote');
    for (const i of [incident({ kind: 'unreachable', error: 'timed out' }), incident({ kind: 'io_stopped' })])
      expect(
        buttons(alertMessage(i, { role: 'master', pool: false, promote: 'db3:3306' })).map((x) => x.actionId),
      ).not.toContain('incident.promote');
    // No candidate, no button; a resolved alert has none either.
    expect(buttons(alertMessage(incident(), { role: 'master', pool: false })).map((x) => x.actionId)).not.toContain(
      'incident.promote',
    );
    expect(
      buttons(
        alertMessage(incident({ state: 'resolved', resolvedAt: new Date() }), {
          role: 'master',
          pool: false,
          promote: 'x:1',
        }),
      ),
    ).toEqual([]);
  });
});

describe('promoteCandidate (from the monitor statuses)', () => {
  const node = (host: string, role: 'master' | 'replica') => ({
    host,
    address: host,
    port: 3306,
    role,
    serverId: 1,
    sandbox: '',
  });
  const rep = (gtid: string, s: Partial<NodeStatus> = {}): NodeStatus => ({
    reachable: true,
    isReplica: true,
    ioRunning: 'Connecting',
    sqlRunning: 'Yes',
    secondsBehind: null,
    lastIoErrno: 2003,
    lastIoError: null,
    lastSqlErrno: null,
    lastSqlError: null,
    gtid,
    ...s,
  });
  const nodes = [node('db1', 'master'), node('db2', 'replica'), node('db3', 'replica')];

  it('names the most advanced healthy replica', () => {
    expect(promoteCandidate(nodes, [unreachableStatus('x'), rep('0-1-10'), rep('0-1-12')])).toBe('db3:3306');
    expect(promoteCandidate(nodes, [unreachableStatus('x'), rep('0-1-10'), rep('0-1-12', { sqlRunning: 'No' })])).toBe(
      'db2:3306',
    );
  });

  it('names none when no replica can be promoted or answered', () => {
    expect(promoteCandidate(nodes, [undefined, undefined, unreachableStatus('x')])).toBeUndefined();
  });
});

describe('the Promote button within Slack limits', () => {
  it('keeps its text, title and confirmation within 75, 100 and 300 characters', () => {
    const long = `${'db-'.repeat(80)}x:3306`;
    const p = buttons(alertMessage(incident({ host: long }), { role: 'master', pool: true, promote: long })).find(
      (x) => x.actionId === 'incident.promote',
    );
    expect(p?.label.length).toBeLessThanOrEqual(75);
    expect(p?.confirm?.title.length).toBeLessThanOrEqual(100);
    expect(p?.confirm?.text.length).toBeLessThanOrEqual(300);
    expect(p?.value).toBe(`9|${long}`);
  });
});
