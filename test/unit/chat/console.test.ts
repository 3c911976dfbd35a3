import { describe, expect, it } from 'vitest';
import { createConsoleChat } from '../../../src/chat/console/console-chat.js';
import { runConsoleLine } from '../../../src/chat/console/console-session.js';
import type { CommandInvocation, CommandRouter } from '../../../src/core/ports/commands.js';
import { textMessage } from '../../../src/core/message.js';

/** A router that asks for confirmation and records what it was given. */
function confirmingRouter() {
  const seen: Array<{ command: string; text: string; confirmed: boolean }> = [];
  const router: CommandRouter = {
    commands: () => [],
    async dispatch(inv: CommandInvocation) {
      const confirmed = await inv.reply.confirm(textMessage('Sure?'));
      seen.push({ command: inv.command, text: inv.text, confirmed });
      return { status: confirmed ? 'ok' : 'refused' };
    },
    dispatchAction: async () => ({ status: 'ok' }),
  };
  return { router, seen };
}

describe('console confirmations', () => {
  const who = { user: 'alice', channel: 'C1' };

  it('takes a trailing --yes as the answer and does not pass it on', async () => {
    const out: string[] = [];
    const io = { out: (s: string) => void out.push(s) };
    const { router, seen } = confirmingRouter();
    expect(await runConsoleLine(router, createConsoleChat(io), io, '/replica remove demo --yes', who)).toBe(true);
    expect(seen[0]).toEqual({ command: 'replica', text: 'remove demo', confirmed: true });
    expect(out.join('\n')).toMatch(/confirmed by --yes/);
  });

  it('leaves --yes inside a /run command line alone (the policy judges it)', async () => {
    const io = { out: () => undefined };
    const { router, seen } = confirmingRouter();
    await runConsoleLine(router, createConsoleChat(io), io, '/run server1 apt-get --yes', who);
    expect(seen[0]).toEqual({ command: 'run', text: 'server1 apt-get --yes', confirmed: false });
  });

  it('answers no when nobody can answer, and when the prompt has gone away', async () => {
    const out: string[] = [];
    const { router, seen } = confirmingRouter();
    const io = { out: (s: string) => void out.push(s) };
    expect(await runConsoleLine(router, createConsoleChat(io), io, '/replica remove demo', who)).toBe(false);
    expect(out.join('\n')).toMatch(/run again with --yes/);
    const closed = { out: () => undefined, ask: async () => false };
    await runConsoleLine(router, createConsoleChat(closed), closed, '/pool del db3:3306', who);
    expect(seen.map((s) => s.confirmed)).toEqual([false, false]);
  });
});

describe('console pool announcements', () => {
  it('prints a pool change once: the summary line, not its fields again', async () => {
    const { poolChangeMessage } = await import('../../../src/core/pool-message.js');
    const out: string[] = [];
    const { sink } = createConsoleChat({ out: (s) => void out.push(s) });
    const change = {
      host: '10.0.0.6',
      port: 3306,
      before: ['READ' as const],
      after: [],
      actor: 'U1',
      reason: 'maintenance',
    };
    await sink.post('CPOOL', poolChangeMessage(change));
    expect(out).toEqual(['[#CPOOL] Pool: 10.0.0.6:3306 READ → offline by <@U1> — maintenance']);
  });
});
