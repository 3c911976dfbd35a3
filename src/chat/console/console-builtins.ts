/**
 * Console lines that are not slash commands: `press` presses a button of a message the console printed (an
 * alert's Restart replication, Skip one event, …) through the same router and checks as a click in Slack; `wait`
 * lets a script piped into the console give the monitor time (`wait 5`) or wait for what it expects to see
 * (`wait for RESOLVED`). Callers may add more (the demo's `demo …`).
 */
import { randomUUID } from 'node:crypto';
import type { Button } from '../../core/message.js';
import type { CommandRouter } from '../../core/ports/commands.js';
import { buttonName, type ConsoleIo, type PressableMessage, type createConsoleChat } from './console-chat.js';

/**
 * A console line handler: `args` are the words after its name; `run` runs another console line as if typed (and
 * printed first). Resolves true when it did what was asked.
 */
export type ConsoleBuiltin = (
  args: string[],
  io: ConsoleIo,
  run: (line: string) => Promise<boolean>,
) => Promise<boolean>;

/** What the built-ins use. */
export interface BuiltinDeps {
  router: CommandRouter;
  chat: ReturnType<typeof createConsoleChat>;
  who: { user: string; channel: string };
  /** Everything printed so far, and where the previous line's output began. */
  transcript: { lines: string[]; previousStart(): number };
  /** How long `press` waits for a button to appear and `wait for` for its text (default 60 s). */
  waitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `press` and `wait`. */
export function createConsoleBuiltins(d: BuiltinDeps): Record<string, ConsoleBuiltin> {
  const waitMs = d.waitMs ?? 60_000;

  const find = (name: string, ts?: string): { msg: PressableMessage; button: Button } | null => {
    const candidates = [...d.chat.pressable.values()].filter((m) => !ts || m.ts === ts).sort((a, b) => b.seq - a.seq);
    for (const msg of candidates) {
      const button = msg.buttons.find((b) => buttonName(b) === name);
      if (button) return { msg, button };
    }
    return null;
  };

  async function press(args: string[], io: ConsoleIo): Promise<boolean> {
    const yes = args.includes('--yes');
    const [name, ts] = args.filter((a) => a !== '--yes');
    if (!name || !/^[a-z][a-z0-9_-]{0,30}$/.test(name) || (ts !== undefined && !/^\d+\.\d+$/.test(ts))) {
      io.out('Usage: press <button> [<message ts>] [--yes]   (the names are shown under each message with buttons)');
      return false;
    }
    let hit = find(name, ts);
    if (!hit) {
      io.out(`(waiting up to ${waitMs / 1000} s for a message with a \`${name}\` button${ts ? ` at ${ts}` : ''}…)`);
      const deadline = Date.now() + waitMs;
      while (!hit && Date.now() < deadline) {
        await sleep(100);
        hit = find(name, ts);
      }
    }
    if (!hit) {
      io.out(`No message${ts ? ` ${ts}` : ''} has a \`${name}\` button; nothing was pressed.`);
      return false;
    }
    const reply = d.chat.reply(d.who.channel, { assumeYes: yes });
    const c = hit.button.confirm;
    if (c && !(await reply.confirm({ text: `${c.title} ${c.text}` }, { yesLabel: c.yes }))) {
      io.out(`Not pressed: ${hit.button.label}.`);
      return false;
    }
    io.out(`(pressed ${hit.button.label} on ${hit.msg.ts})`);
    const outcome = await d.router.dispatchAction({
      actionId: hit.button.actionId,
      value: hit.button.value,
      principal: { userId: d.who.user, userName: d.who.user, channelId: d.who.channel, roles: [] },
      message: { channel: hit.msg.channel, ts: hit.msg.ts },
      ...(hit.msg.threadTs ? { threadTs: hit.msg.threadTs } : {}),
      reply,
      source: 'console',
      requestId: randomUUID(),
    });
    reply.flush();
    return outcome.status === 'ok';
  }

  async function wait(args: string[], io: ConsoleIo): Promise<boolean> {
    if (args[0] === 'for' && args.length > 1) {
      const text = args.slice(1).join(' ');
      const from = d.transcript.previousStart();
      const seen = () => d.transcript.lines.slice(from).some((l) => l.includes(text));
      const deadline = Date.now() + waitMs;
      while (!seen()) {
        if (Date.now() > deadline) {
          io.out(`(not seen within ${waitMs / 1000} s: ${text})`);
          return false;
        }
        await sleep(100);
      }
      return true;
    }
    const s = Number(args[0]);
    if (args.length !== 1 || !Number.isFinite(s) || s < 0 || s > 600) {
      io.out('Usage: wait <seconds, at most 600> | wait for <text printed by the previous line or later>');
      return false;
    }
    await sleep(s * 1000);
    return true;
  }

  return { press, wait };
}
