/** Authorization in one place: `authorize` throws the coded denial, the router answers every denial alike. */
import { describe, expect, it } from 'vitest';
import { authorize, deniedRule, tryAuthorize } from '../../../src/core/authorize.js';
import { createCommandRouter } from '../../../src/core/router.js';
import { parsePolicy } from '../../../src/core/policy/index.js';
import { ErrorCode, GearopsError, isErrorCode } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import type { CommandModule } from '../../../src/core/ports/commands.js';
import { verifyResult, signResult } from '../../../src/core/payload.js';
import { createMemoryAudit, createRecordingReply } from '../fakes/ports.js';

const policy = parsePolicy(
  [
    'version: 1',
    'roles:',
    '  dba:',
    '    users: [UDBA]',
    'commands:',
    '  - rule: web-diag',
    '    hosts: [web*]',
    '    allow: [uptime]',
    'actions:',
    '  - rule: dba-pool',
    '    who: [role:dba]',
    '    actions: [pool.add]',
    'sql:',
    '  - rule: reads',
    '    statements: [SELECT]',
    '',
  ].join('\n'),
  'test.yml',
);
const alice = { userId: 'UALICE', channelId: 'C1', roles: [] };

describe('authorize', () => {
  it('returns the allowing decision, with the rule', () => {
    expect(authorize(policy, alice, { run: 'uptime', host: 'web1' })).toMatchObject({
      allow: true,
      rule: 'web-diag',
      pipeline: [['uptime']],
    });
    expect(authorize(policy, { ...alice, roles: ['dba'] }, { action: 'pool.add' }).rule).toBe('dba-pool');
    expect(authorize(policy, alice, { sql: 'SELECT 1' }).rule).toBe('reads');
  });

  it('throws gearops_policy_denied carrying the rule, the host and the action', () => {
    const denial = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err as GearopsError;
      }
      throw new Error('not denied');
    };
    const run = denial(() => authorize(policy, alice, { run: 'uptime', host: 'db1' }));
    expect(run).toBeInstanceOf(GearopsError);
    expect(run.code).toBe(ErrorCode.PolicyDenied);
    expect(run.message).toBe('rule `web-diag` is for hosts web*, not db1');
    expect(run.data).toEqual({ rule: 'web-diag', host: 'db1' });
    const action = denial(() => authorize(policy, alice, { action: 'pool.add', host: 'db1' }));
    expect(action.data).toEqual({ rule: 'dba-pool', host: 'db1', action: 'pool.add' });
    expect(action.message).toBe('rule `dba-pool` allows pool.add only for role:dba');
    // No rule at all: the denial says what is missing, and names no rule.
    const none = denial(() => authorize(policy, alice, { action: 'pool.del' }));
    expect(none.message).toBe('no rule of test.yml allows pool.del');
    expect(deniedRule(none)).toBeUndefined();
    const sql = denial(() => authorize(policy, alice, { sql: 'SELECT SLEEP(5)' }));
    expect(deniedRule(sql)).toBe('sql-denied-function');
  });

  it('tryAuthorize hands a denial back as a value (a fan-out gathers them per host)', () => {
    const a = tryAuthorize(policy, alice, { run: 'uptime', host: 'db1' });
    expect(a.ok).toBe(false);
    if (!a.ok) expect(deniedRule(a.denial)).toBe('web-diag');
    expect(tryAuthorize(policy, alice, { run: 'uptime', host: 'web2' }).ok).toBe(true);
  });
});

describe('the router answers every denial alike', () => {
  it('a command that calls authorize gets "Denied: <reason>", and the audit row names the rule', async () => {
    const cmd: CommandModule = {
      name: 'pool',
      description: 'd',
      usage: '',
      async handle(inv) {
        authorize(policy, inv.principal, { action: 'pool.add', host: 'db9' });
        return { status: 'ok' };
      },
    };
    const audit = createMemoryAudit();
    const router = createCommandRouter({ commands: [cmd], policy, logger: createSilentLogger(), audit });
    const rec = createRecordingReply();
    const out = await router.dispatch({
      command: 'pool',
      text: 'add db9:3306',
      principal: alice,
      reply: rec.reply,
      source: 'console',
      requestId: 'r1',
    });
    expect(out).toMatchObject({ status: 'denied', rule: 'dba-pool', host: 'db9' });
    expect(rec.ephemerals).toEqual(['Denied: rule `dba-pool` allows pool.add only for role:dba']);
    expect(audit.rows[0]).toMatchObject({ status: 'denied', decision: 'deny', rule: 'dba-pool', host: 'db9' });
  });
});

describe("a worker's error code is checked against the known codes", () => {
  const SECRET = 'a-secret-of-at-least-16-chars';
  const job = { id: 'job-1', host: 'db1', capability: 'run' };
  const answer = (code: unknown) =>
    verifyResult(
      SECRET,
      signResult(SECRET, {
        ...job,
        job: job.id,
        ok: false,
        value: null,
        error: { code, message: 'no', data: { rule: 'r' } } as never,
        durationMs: 1,
      }),
      job,
    ).error;

  it('keeps a known code, and turns an unknown one into gearops_job_failed with the worker code kept', () => {
    expect(answer(ErrorCode.PolicyDenied)).toEqual({
      code: 'gearops_policy_denied',
      message: 'no',
      data: { rule: 'r' },
    });
    expect(answer('gearops_from_the_future')).toEqual({
      code: 'gearops_job_failed',
      message: 'no',
      data: { rule: 'r', workerCode: 'gearops_from_the_future' },
    });
    expect(answer(42)?.data?.workerCode).toBe('number');
    expect(isErrorCode('gearops_rate_limited')).toBe(false);
    expect(isErrorCode(ErrorCode.JobRejected)).toBe(true);
  });
});
