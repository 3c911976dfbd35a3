import { describe, expect, it } from 'vitest';
import { createConsoleChat } from '../../../src/chat/console/console-chat.js';
import { createConsoleBuiltins } from '../../../src/chat/console/console-builtins.js';
import type { ActionInvocation, CommandRouter } from '../../../src/core/ports/commands.js';
import type { ChatMessage } from '../../../src/core/message.js';

const alert = (id: number, withSkip: boolean): ChatMessage => ({
  text: `🔴 alert ${id}`,
  blocks: [
    { type: 'text', text: `🔴 alert ${id}` },
    {
      type: 'buttons',
      buttons: [
        { actionId: 'incident.restart', label: 'Restart replication', value: String(id) },
        ...(withSkip
          ? [
              {
                actionId: 'incident.skip',
                label: 'Skip one event',
                value: String(id),
                confirm: { title: 'Skip one event?', text: 'Skips it.', yes: 'Skip it', no: 'Cancel' },
              },
            ]
          : []),
      ],
    },
  ],
});

function setup() {
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(...s.split('\n')) };
  const chat = createConsoleChat(io);
  const pressed: ActionInvocation[] = [];
  const router = {
    dispatch: async () => ({ status: 'ok' as const }),
    dispatchAction: async (inv: ActionInvocation) => {
      pressed.push(inv);
      return { status: 'ok' as const };
    },
    commands: () => [],
  } satisfies CommandRouter;
  let mark = 0;
  const b = createConsoleBuiltins({
    router,
    chat,
    who: { user: 'demo', channel: 'CDEMO' },
    transcript: { lines, previousStart: () => mark },
    waitMs: 300,
  });
  const run = async () => true;
  return { lines, io, chat, pressed, b, run, setMark: (m: number) => (mark = m) };
}

describe('console press and wait', () => {
  it('presses the latest message with that button through the router, or the one whose ts is given', async () => {
    const t = setup();
    const first = await t.chat.sink.post('CALERTS', alert(1, false));
    await t.chat.sink.post('CALERTS', alert(2, false));
    expect(t.lines.join('\n')).toContain(`(console: press restart — this message is ${first.ts})`);
    expect(await t.b.press!(['restart'], t.io, t.run)).toBe(true);
    expect(await t.b.press!(['restart', first.ts], t.io, t.run)).toBe(true);
    expect(t.pressed.map((p) => [p.actionId, p.value, p.message.channel, p.principal.userId])).toEqual([
      ['incident.restart', '2', 'CALERTS', 'demo'],
      ['incident.restart', '1', 'CALERTS', 'demo'],
    ]);
  });

  it("asks a button's confirmation (--yes answers it) and forgets buttons a message no longer has", async () => {
    const t = setup();
    const ref = await t.chat.sink.post('CALERTS', alert(3, true));
    expect(await t.b.press!(['skip'], t.io, t.run)).toBe(false);
    expect(t.lines).toContain('Not pressed: Skip one event.');
    expect(t.pressed).toHaveLength(0);
    expect(await t.b.press!(['skip', '--yes'], t.io, t.run)).toBe(true);
    expect(t.pressed.map((p) => p.actionId)).toEqual(['incident.skip']);
    // Resolved: the update has no buttons, so nothing is left to press (after waiting for one to appear).
    await t.chat.sink.update(ref, { text: '✅ RESOLVED' });
    expect(await t.b.press!(['restart'], t.io, t.run)).toBe(false);
    expect(t.lines.at(-1)).toBe('No message has a `restart` button; nothing was pressed.');
    expect(await t.b.press!(['rm -rf'], t.io, t.run)).toBe(false);
  });

  it('waits for text printed from the previous line on, and for a number of seconds', async () => {
    const t = setup();
    t.io.out('RESOLVED long ago');
    t.setMark(t.lines.length);
    expect(await t.b.wait!(['for', 'RESOLVED'], t.io, t.run)).toBe(false);
    setTimeout(() => t.io.out('✅ RESOLVED after 2 s'), 50);
    expect(await t.b.wait!(['for', 'RESOLVED'], t.io, t.run)).toBe(true);
    expect(await t.b.wait!(['0'], t.io, t.run)).toBe(true);
    expect(await t.b.wait!(['forever'], t.io, t.run)).toBe(false);
  });
});
