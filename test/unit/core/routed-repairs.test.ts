import { describe, expect, it } from 'vitest';
import { createRoutedProbe } from '../../../src/core/routed-probe.js';
import { parseRepairArgs, parseSqlArgs } from '../../../src/core/mysql-jobs.js';
import type { Dispatcher, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';
import type { ReplicationProbe } from '../../../src/core/ports/replication.js';

/** A dispatcher that records what it is asked and answers `answer`. */
function recordingDispatcher(answer: (r: JobRequest) => Partial<JobResult>) {
  const jobs: JobRequest[] = [];
  const d = {
    submit: async (r: JobRequest) => {
      jobs.push(r);
      return {
        host: r.host,
        capability: r.capability,
        handle: 'H:1',
        ok: true,
        value: null,
        error: null,
        durationMs: 1,
        ...answer(r),
      };
    },
  } as unknown as Dispatcher;
  return { d, jobs };
}

const directCalls: string[] = [];
const direct = {
  startReplication: async () => void directCalls.push('start'),
  skipOneEvent: async () => void directCalls.push('skip'),
  exec: async () => (directCalls.push('exec'), { columns: [], rows: [] }),
} as unknown as ReplicationProbe;

const hidden = { address: 'db3', port: 3306, credentials: 'prod', via: 'db3' };
const who = { userId: 'U1', channelId: 'C1', groups: [], roles: [] };

describe('repairs and /replica sql through the worker', () => {
  it('sends the fixed repair and the statement to the node host worker, as the requester', async () => {
    const { d, jobs } = recordingDispatcher((r) =>
      r.capability === 'mysql.sql'
        ? { value: { columns: ['id'], rows: [['23']], totalRows: 1 } }
        : { value: { done: 'x' } },
    );
    const p = createRoutedProbe(direct, d);
    await p.startReplication(hidden, { requester: who });
    await p.skipOneEvent(hidden, { requester: who });
    const r = await p.exec(hidden, 'SELECT @@server_id AS id', { readOnly: true, timeoutMs: 4000, requester: who });
    expect(r).toEqual({ columns: ['id'], rows: [['23']] });
    expect(jobs.map((j) => [j.capability, j.host, j.args, j.requester.userId])).toEqual([
      ['mysql.repair', 'db3', { port: 3306, credentials: 'prod', op: 'restart' }, 'U1'],
      ['mysql.repair', 'db3', { port: 3306, credentials: 'prod', op: 'skip' }, 'U1'],
      [
        'mysql.sql',
        'db3',
        { port: 3306, credentials: 'prod', sql: 'SELECT @@server_id AS id', maxStatementTimeS: 4, timeoutMs: 4000 },
        'U1',
      ],
    ]);
    expect(directCalls).toEqual([]);
  });

  it('refuses a statement that is not read-only, or one without a requester, before any job', async () => {
    const { d, jobs } = recordingDispatcher(() => ({}));
    const p = createRoutedProbe(direct, d);
    await expect(p.exec(hidden, 'DELETE FROM t', { requester: who })).rejects.toThrow(/needs a direct connection/);
    await expect(p.startReplication(hidden)).rejects.toThrow(/needs to know who asked/);
    expect(jobs).toEqual([]);
  });

  it("keeps a worker's denial a denial, with its text", async () => {
    const { d } = recordingDispatcher(() => ({
      ok: false,
      error: {
        code: 'gearops_policy_denied',
        message: 'worker db3 policy: rule `db3-skip-dba` allows replica.skip only for role dba',
      },
    }));
    const err = (await createRoutedProbe(direct, d)
      .skipOneEvent(hidden, { requester: who })
      .then(() => new Error('no error'))
      .catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('gearops_policy_denied');
    expect(err.message).toMatch(/^worker db3: worker db3 policy: rule `db3-skip-dba`/);
  });

  it('parses the jobs strictly on both sides', () => {
    expect(parseRepairArgs({ port: 3306, op: 'skip' })).toEqual({ port: 3306, op: 'skip' });
    expect(() => parseRepairArgs({ port: 3306, op: 'stop' })).toThrow(/op must be one of restart, skip/);
    expect(() => parseRepairArgs({ port: 3306, op: 'restart', sql: 'DROP TABLE t' })).toThrow(/unknown argument sql/);
    expect(() => parseSqlArgs({ port: 3306, sql: 'SELECT 1', maxStatementTimeS: 0, timeoutMs: 1000 })).toThrow(
      /maxStatementTimeS/,
    );
    expect(() => parseSqlArgs({ port: 3306, sql: '', maxStatementTimeS: 5, timeoutMs: 1000 })).toThrow(/sql must be/);
    expect(() =>
      parseSqlArgs({ port: 3306, credentials: '../x', sql: 'SELECT 1', maxStatementTimeS: 5, timeoutMs: 1000 }),
    ).toThrow(/credentials must be an entry name/);
  });
});
