/**
 * Platform-neutral chat messages. Commands and the monitor build these; the
 * Slack transport renders them as Block Kit, the console as plain text.
 */
import { randomBytes } from 'node:crypto';

/** A button on a message (Slack block action; a prompt in the console). */
export interface Button {
  /** Routed to the action handler registered for this id (e.g. `incident.ack`). */
  actionId: string;
  label: string;
  /** Opaque value handed back to the action handler (keep it short: ids, not data). */
  value: string;
  style?: 'primary' | 'danger';
  /** When set, Slack asks this question before the click counts. */
  confirm?: { title: string; text: string; yes: string; no: string };
}

/** One piece of a message. */
export type Block =
  | { type: 'header'; text: string }
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  /** `repeatsText`: the fields lay out what the text above already says (rich clients); plain text leaves them out. */
  | { type: 'fields'; fields: Array<{ label: string; value: string }>; repeatsText?: boolean }
  | { type: 'table'; columns: string[]; rows: string[][] }
  | { type: 'context'; text: string }
  | { type: 'divider' }
  | { type: 'buttons'; buttons: Button[] };

/** A message: `text` is the notification / fallback line, `blocks` the body. */
export interface ChatMessage {
  text: string;
  blocks?: Block[];
}

/** A file to attach to a message's thread (long output). */
export interface ChatFile {
  filename: string;
  content: string | Buffer;
  title?: string;
  comment?: string;
}

/*
 * Mentions the bot means to make are tokens only mention() and channelMention() produce: a private-use character,
 * a key drawn at start-up, the id, another private-use character. Renderers turn those tokens, and nothing else,
 * into live mentions: text from servers and users (an error, a result, a reason, a host name) cannot ping anyone,
 * whatever it contains, since it cannot know the key.
 */
const MENTION_KEY = randomBytes(9).toString('base64url');
const MENTION_TOKEN = new RegExp(`\uE000${MENTION_KEY}([@#])([A-Z0-9]{2,24})\uE001`, 'g');

/** A mention of a Slack user (U…/W…) that renderers make live; anything else is shown as the plain id. */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{1,23}$/.test(userId) ? `\uE000${MENTION_KEY}@${userId}\uE001` : userId;
}

/** A link to a channel (C…/G…) that renderers make live; anything else is shown as the plain id. */
export function channelMention(channelId: string): string {
  return /^[CG][A-Z0-9]{1,23}$/.test(channelId) ? `\uE000${MENTION_KEY}#${channelId}\uE001` : channelId;
}

/** Text cut into plain pieces and the mentions the bot made (tokens of mention()/channelMention()). */
export function mentionSegments(s: string): Array<{ text: string } | { kind: '@' | '#'; id: string }> {
  const out: Array<{ text: string } | { kind: '@' | '#'; id: string }> = [];
  let at = 0;
  for (const m of s.matchAll(MENTION_TOKEN)) {
    if (m.index > at) out.push({ text: s.slice(at, m.index) });
    out.push({ kind: m[1] as '@' | '#', id: m[2]! });
    at = m.index + m[0].length;
  }
  if (at < s.length) out.push({ text: s.slice(at) });
  return out;
}

/** Writes the bot's mentions as `show` says (plain text: `<@U…>`, as Slack shows them to people who type them). */
export function showMentions(s: string, show = (kind: '@' | '#', id: string) => `<${kind}${id}>`): string {
  return s.replace(MENTION_TOKEN, (_m, kind: '@' | '#', id: string) => show(kind, id));
}

/** Builds a message of one text line. */
export function textMessage(text: string): ChatMessage {
  return { text, blocks: [{ type: 'text', text }] };
}

/** Removes ANSI escape sequences and other terminal control characters (keeps \n and \t). */
export function stripAnsi(s: string): string {
  return s
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g, '')
    .replace(/\u001b[@-Z\\-_]/g, '')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

/** Renders a message as plain text (console, logs, file previews). */
export function renderText(msg: ChatMessage): string {
  return showMentions(renderPlain(msg));
}

function renderPlain(msg: ChatMessage): string {
  if (!msg.blocks || msg.blocks.length === 0) return msg.text;
  const out: string[] = [];
  for (const b of msg.blocks) {
    switch (b.type) {
      case 'header':
        out.push(`== ${b.text} ==`);
        break;
      case 'text':
        out.push(b.text);
        break;
      case 'context':
        out.push(b.text);
        break;
      case 'code':
        out.push(b.text.replace(/\n$/, ''));
        break;
      case 'divider':
        out.push('--');
        break;
      case 'fields':
        if (!b.repeatsText) out.push(b.fields.map((f) => `${f.label}: ${f.value}`).join('\n'));
        break;
      case 'table':
        out.push(renderTable(b.columns, b.rows));
        break;
      case 'buttons':
        out.push(b.buttons.map((x) => `[${x.label}]`).join(' '));
        break;
    }
  }
  return out.join('\n');
}

/** Lays out rows as a fixed-width text table. */
export function renderTable(columns: string[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * Lays out rows one column per line (as the mysql client's \G does), for results too wide to read as a table
 * (SHOW SLAVE STATUS has some sixty columns). Empty and NULL values are left out and counted.
 */
export function renderRecords(columns: string[], rows: string[][]): string {
  const label = Math.max(...columns.map((c) => c.length));
  return rows
    .map((r, i) => {
      const shown = columns.map((c, j) => [c, r[j] ?? ''] as const).filter(([, v]) => v !== '' && v !== 'NULL');
      const hidden = columns.length - shown.length;
      return [
        `── row ${i + 1} ──`,
        ...shown.map(([c, v]) => `${c.padStart(label)}: ${v}`),
        ...(hidden ? [`(${hidden} empty or NULL column${hidden === 1 ? '' : 's'} not shown)`] : []),
      ].join('\n');
    })
    .join('\n');
}

/** A result as a table when it is narrow enough to read (at most `maxWidth` characters a line), else one column per line. */
export function resultBlock(columns: string[], rows: string[][], maxWidth = 120): Block {
  const width =
    columns.reduce((sum, c, i) => sum + Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)), 0) +
    2 * Math.max(0, columns.length - 1);
  return width <= maxWidth ? { type: 'table', columns, rows } : { type: 'code', text: renderRecords(columns, rows) };
}

/** Formats a duration for people: 850 ms, 12.3 s, 4 min 5 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms - m * 60_000) / 1000)} s`;
}
