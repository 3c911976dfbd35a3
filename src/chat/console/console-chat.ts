/**
 * The console transport: the same command handlers as Slack, with messages
 * printed as text. Updates of a command's own messages are held back and the
 * latest version printed when the command ends, so streamed output does not
 * repeat; messages from the monitor and pool announcements print at once.
 * Messages with buttons (an alert's) are remembered with their ts, so that the console's `press` can press them.
 */
import { renderText, type Button, type ChatFile, type ChatMessage } from '../../core/message.js';
import type { ChatSink, MessageRef, Reply } from '../../core/ports/chat.js';

/** Where console output goes and how confirmations are answered. */
export interface ConsoleIo {
  out(text: string): void;
  /** Asks a yes/no question; undefined when nobody can answer (non-interactive). */
  ask?(question: string): Promise<boolean>;
}

/** A console Reply plus `flush()`, which prints the final state of updated messages. */
export interface ConsoleReply extends Reply {
  flush(): void;
}

/** A posted message whose buttons the console can press (`press <name> [ts]`). */
export interface PressableMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  buttons: Button[];
  /** Order of posting or last update: `press <name>` takes the latest. */
  seq: number;
}

/** The console name of a button: its action id's last word (incident.restart → restart). */
export const buttonName = (b: Button): string => b.actionId.split('.').pop() ?? b.actionId;

/**
 * Creates console output helpers sharing one message counter. Over 80 lines as a factory: the output helpers share one message counter; each is short.
 */
export function createConsoleChat(io: ConsoleIo, opts: { assumeYes?: boolean } = {}) {
  let seq = 0;
  let order = 0;
  const pressable = new Map<string, PressableMessage>();
  /** Remembers (or forgets) `msg`'s buttons; returns the line telling how to press them, or ''. */
  const remember = (channel: string, ts: string, msg: ChatMessage, threadTs?: string): string => {
    const buttons = (msg.blocks ?? []).flatMap((b) => (b.type === 'buttons' ? b.buttons : []));
    if (buttons.length === 0) {
      pressable.delete(ts);
      return '';
    }
    pressable.set(ts, { channel, ts, ...(threadTs ? { threadTs } : {}), buttons, seq: ++order });
    return `\n(console: press ${buttons.map(buttonName).join(' | ')} — this message is ${ts})`;
  };
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const indent = (s: string, prefix: string) =>
    s
      .split('\n')
      .map((l) => prefix + l)
      .join('\n');
  const printFile = (ref: MessageRef, file: ChatFile) => {
    const body = typeof file.content === 'string' ? file.content : file.content.toString('utf8');
    io.out(
      `--- file ${file.filename} (${Buffer.byteLength(body)} bytes) in thread ${ref.ts} ---\n${body.replace(/\n$/, '')}\n--- end of ${file.filename} ---`,
    );
  };

  /** Posting to channels outside a command (monitor alerts, pool announcements). */
  const sink: ChatSink = {
    async post(channel, msg, o) {
      const ts = nextTs();
      const shown = o?.latest?.() ?? msg;
      const how = remember(channel, ts, shown, o?.threadTs);
      io.out(indent(renderText(shown) + how, `[#${channel}${o?.threadTs ? ` thread ${o.threadTs}` : ''}] `));
      return { channel, ts };
    },
    async update(ref, msg) {
      const how = remember(ref.channel, ref.ts, msg, pressable.get(ref.ts)?.threadTs);
      io.out(indent(renderText(msg) + how, `[#${ref.channel} updated ${ref.ts}] `));
    },
    async upload(ref, file) {
      printFile(ref, file);
    },
  };

  /** A Reply for one command typed in `channel`. */
  function reply(channel: string, r: { assumeYes?: boolean } = {}): ConsoleReply {
    const latest = new Map<string, { msg: ChatMessage; printed: string }>();
    return {
      channel,
      async ephemeral(msg) {
        io.out(renderText(msg));
      },
      async post(first, o) {
        const ts = nextTs();
        const msg = o?.latest?.() ?? first;
        const text = renderText(msg);
        io.out(o?.threadTs ? indent(text, '  ↳ ') : text);
        latest.set(ts, { msg, printed: text });
        return { channel, ts };
      },
      async update(ref, msg) {
        const entry = latest.get(ref.ts);
        latest.set(ref.ts, { msg, printed: entry?.printed ?? '' });
      },
      async upload(ref, file) {
        this.flush();
        printFile(ref, file);
      },
      async confirm(question, o) {
        const text = renderText(question);
        if (opts.assumeYes || r.assumeYes) {
          io.out(`${text}\n(confirmed by --yes)`);
          return true;
        }
        if (io.ask) return io.ask(`${text}\n${o?.yesLabel ?? 'Proceed'}? [y/N] `);
        io.out(`${text}\nNot confirmed: run again with --yes to confirm.`);
        return false;
      },
      flush() {
        for (const [ts, entry] of latest) {
          const text = renderText(entry.msg);
          if (text !== entry.printed) {
            // Print only what changed below the lines already on screen (streamed output grows downwards).
            const before = entry.printed.split('\n');
            const after = text.split('\n');
            let k = 0;
            while (k < before.length - 1 && k < after.length && before[k] === after[k]) k++;
            io.out(after.slice(k).join('\n'));
            latest.set(ts, { msg: entry.msg, printed: text });
          }
        }
      },
    };
  }

  return { sink, reply, pressable };
}
