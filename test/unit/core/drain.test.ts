import { describe, expect, it } from 'vitest';
import { createDrainableRouter, RESTARTING_ANSWER } from '../../../src/core/drain.js';
import type { CommandInvocation, CommandRouter } from '../../../src/core/ports/commands.js';
import { createSilentLogger } from '../../../src/log.js';
import { createMemoryAudit, createRecordingReply } from '../fakes/ports.js';

function setup() {
  let release: () => void = () => undefined;
  const ran: string[] = [];
  const inner: CommandRouter = {
    commands: () => [],
    async dispatch(inv) {
      ran.push(inv.text);
      await new Promise<void>((r) => (release = r));
      return { status: 'ok' };
    },
    dispatchAction: async () => ({ status: 'ok' }),
  };
  const audit = createMemoryAudit();
  const d = createDrainableRouter(inner, { logger: createSilentLogger(), audit });
  const inv = (text: string) => {
    const rec = createRecordingReply();
    const i: CommandInvocation = {
      command: 'run',
      text,
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'slack',
      requestId: `req-${text}`,
    };
    return { i, rec };
  };
  return { d, inv, ran, audit, release: () => release() };
}

describe('draining the router at shutdown', () => {
  it('answers new commands "restarting", runs nothing and audits the refusal, while running ones go on', async () => {
    const s = setup();
    const first = s.inv('server1 sleep 60');
    const running = s.d.router.dispatch(first.i);
    expect(s.d.running().map((r) => r.what)).toEqual(['run server1 sleep 60']);
    s.d.drain();
    const late = s.inv('server1 uptime');
    expect(await s.d.router.dispatch(late.i)).toMatchObject({ status: 'refused' });
    expect(late.rec.ephemerals).toEqual([RESTARTING_ANSWER]);
    expect(s.ran).toEqual(['server1 sleep 60']);
    expect(s.audit.rows.map((r) => [r.requestId, r.status, r.summary])).toEqual([
      ['req-server1 uptime', 'refused', 'not run: the bot was restarting'],
    ]);
    expect(await s.d.idle(10)).toBe(false);
    const idle = s.d.idle(60_000);
    s.release();
    expect(await running).toMatchObject({ status: 'ok' });
    expect(await idle).toBe(true);
    expect(s.d.running()).toEqual([]);
  });
});
