import { describe, expect, it } from 'vitest';
import { createCommandRouter } from '../../../src/core/router.js';
import { GearopsError, ErrorCode } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import type { CommandModule } from '../../../src/core/ports/commands.js';
import { createFakePolicy, createMemoryAudit, createRecordingReply } from '../fakes/ports.js';

const echo: CommandModule = {
  name: 'echo',
  description: 'echo',
  usage: '<text>',
  async handle(inv) {
    if (inv.text === 'deny')
      throw new GearopsError(ErrorCode.PolicyDenied, 'no rule allows deny', { data: { rule: 'r1' } });
    if (inv.text === 'crash') throw new Error('boom');
    await inv.reply.post({ text: `${inv.text} roles=${inv.principal.roles.join(',')}` });
    return { status: 'ok', host: 'h1' };
  },
  actions: {
    'echo.': async (a) => {
      await a.reply.ephemeral({ text: `pressed ${a.actionId}=${a.value}` });
      return { status: 'ok' };
    },
  },
};

function invocation(text: string, user = 'U1') {
  const rec = createRecordingReply();
  return {
    rec,
    inv: {
      command: 'echo',
      text,
      principal: { userId: user, channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console' as const,
      requestId: 'r1',
    },
  };
}

describe('command router', () => {
  it('fills roles from the policy, runs the command and audits it', async () => {
    const audit = createMemoryAudit();
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy({ roles: { U1: ['dba'] } }),
      logger: createSilentLogger(),
      audit,
    });
    const { rec, inv } = invocation('hello');
    const out = await router.dispatch(inv);
    expect(out.status).toBe('ok');
    expect(rec.posts[0]?.text).toBe('hello roles=dba');
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({
      command: 'echo',
      text: 'hello',
      decision: 'allow',
      status: 'ok',
      host: 'h1',
      userId: 'U1',
    });
  });

  it('answers a GearopsError with its reason and records a denial', async () => {
    const audit = createMemoryAudit();
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy(),
      logger: createSilentLogger(),
      audit,
    });
    const { rec, inv } = invocation('deny');
    const out = await router.dispatch(inv);
    expect(out).toMatchObject({ status: 'denied', rule: 'r1' });
    expect(rec.ephemerals[0]).toContain('no rule allows deny');
    expect(audit.rows[0]).toMatchObject({ decision: 'deny', rule: 'r1' });
  });

  it('answers an unexpected crash without leaking it, and still audits', async () => {
    const audit = createMemoryAudit();
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy(),
      logger: createSilentLogger(),
      audit,
    });
    const { rec, inv } = invocation('crash');
    expect((await router.dispatch(inv)).status).toBe('failed');
    expect(rec.ephemerals[0]).toMatch(/internal error \(request r1\)/);
    expect(rec.ephemerals[0]).not.toContain('boom');
    expect(audit.rows[0]?.status).toBe('failed');
  });

  it('refuses an unknown command', async () => {
    const router = createCommandRouter({ commands: [echo], policy: createFakePolicy(), logger: createSilentLogger() });
    const { rec, inv } = invocation('x');
    expect((await router.dispatch({ ...inv, command: 'nope' })).status).toBe('refused');
    expect(rec.ephemerals[0]).toContain('Unknown command /nope');
  });

  it('rate-limits one user without touching another', async () => {
    let t = 0;
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy(),
      logger: createSilentLogger(),
      userRate: { limit: 2, windowMs: 60_000 },
      now: () => t,
    });
    expect((await router.dispatch(invocation('a').inv)).status).toBe('ok');
    expect((await router.dispatch(invocation('b').inv)).status).toBe('ok');
    const third = invocation('c');
    expect((await router.dispatch(third.inv)).status).toBe('refused');
    expect(third.rec.ephemerals[0]).toMatch(/Slow down.*Try again in 60 s; nothing was run/);
    expect(third.rec.posts).toHaveLength(0);
    expect((await router.dispatch(invocation('d', 'U2').inv)).status).toBe('ok');
    t = 60_001;
    expect((await router.dispatch(invocation('e').inv)).status).toBe('ok');
  });

  it('audits a refusal or denial whose private answer Slack refused, and logs that the user was not told', async () => {
    const audit = createMemoryAudit();
    const logged: string[] = [];
    const logger = createSilentLogger();
    logger.error = ((o: { event?: string }) => logged.push(o.event ?? '')) as typeof logger.error;
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy(),
      logger,
      audit,
      userRate: { limit: 1, windowMs: 60_000 },
    });
    const failing = (text: string, user: string) => {
      const x = invocation(text, user);
      x.inv.reply = {
        ...x.rec.reply,
        ephemeral: async () => {
          throw new Error('Slack chat.postEphemeral failed: channel_not_found');
        },
      };
      return x.inv;
    };
    expect((await router.dispatch(failing('deny', 'U1'))).status).toBe('denied');
    expect((await router.dispatch(failing('again', 'U1'))).status).toBe('refused');
    expect((await router.dispatch({ ...failing('x', 'U2'), command: 'nope' })).status).toBe('refused');
    expect(audit.rows.map((r) => r.status)).toEqual(['denied', 'refused', 'refused']);
    expect(logged).toEqual(['answer_undelivered', 'answer_undelivered', 'answer_undelivered']);
  });

  it('routes buttons by action id prefix', async () => {
    const audit = createMemoryAudit();
    const router = createCommandRouter({
      commands: [echo],
      policy: createFakePolicy(),
      logger: createSilentLogger(),
      audit,
    });
    const rec = createRecordingReply();
    const base = {
      value: '42',
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      message: { channel: 'C1', ts: '1.1' },
      reply: rec.reply,
      source: 'slack' as const,
      requestId: 'r2',
    };
    expect((await router.dispatchAction({ ...base, actionId: 'echo.ack' })).status).toBe('ok');
    expect(rec.ephemerals[0]).toBe('pressed echo.ack=42');
    expect((await router.dispatchAction({ ...base, actionId: 'other.x' })).status).toBe('refused');
    expect(audit.rows.map((r) => r.command)).toEqual(['echo.ack', 'other.x']);
  });
});
