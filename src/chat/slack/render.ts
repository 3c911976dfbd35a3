/** ChatMessage → Block Kit, within Slack's limits (3000 characters a section, 50 blocks, 4000 for `text`). */
import { mentionSegments, renderTable, showMentions, type Block, type ChatMessage } from '../../core/message.js';

/** A Block Kit block (loosely typed: Bolt's types are wider than what we build). */
export type SlackBlock = Record<string, unknown>;

const SECTION_MAX = 3000;

/** Escapes text for mrkdwn (Slack's three control characters); the bot's mention tokens become plain ids. */
export function escapeMrkdwn(s: string): string {
  return plainMentions(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The bot's mention tokens as plain text (@U123, #C123), for places that must not ping (code, plain_text). */
function plainMentions(s: string): string {
  return showMentions(s, (kind, id) => `${kind}${id}`).replace(/[\uE000\uE001]/g, '');
}

/**
 * Everything escaped, so no value can make a mention (<@…>), a broadcast (<!here>), a channel link (<#…>) or a
 * labelled link (<http…|…>); only the mentions the bot made (core/message.ts mention()) become live ones.
 */
function mrkdwn(s: string): string {
  return mentionSegments(s)
    .map((seg) => ('kind' in seg ? `<${seg.kind}${seg.id}>` : escapeMrkdwn(seg.text)))
    .join('');
}

/** Plain text (headers, button labels, dialog titles): Slack does not parse it, but tokens must not show. */
function plain(s: string): string {
  return plainMentions(s);
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 20)}\n… (cut)`;
}

function code(text: string): SlackBlock {
  const body = text.replace(/```/g, '`\u200b``');
  return { type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${cut(escapeMrkdwn(body), SECTION_MAX - 8)}\`\`\`` } };
}

/** Renders one block. */
function renderBlock(b: Block): SlackBlock[] {
  switch (b.type) {
    case 'header':
      return [{ type: 'header', text: { type: 'plain_text', text: cut(plain(b.text), 150) } }];
    case 'text':
      return [{ type: 'section', text: { type: 'mrkdwn', text: cut(mrkdwn(b.text), SECTION_MAX) } }];
    case 'code':
      return [code(b.text)];
    case 'context':
      return [{ type: 'context', elements: [{ type: 'mrkdwn', text: cut(mrkdwn(b.text), 2000) }] }];
    case 'divider':
      return [{ type: 'divider' }];
    case 'fields':
      return [
        {
          type: 'section',
          fields: b.fields
            .slice(0, 10)
            .map((f) => ({ type: 'mrkdwn', text: cut(`*${escapeMrkdwn(f.label)}*\n${mrkdwn(f.value)}`, 2000) })),
        },
      ];
    case 'table':
      return [code(renderTable(b.columns, b.rows))];
    case 'buttons':
      return [
        {
          type: 'actions',
          elements: b.buttons.slice(0, 25).map((x) => ({
            type: 'button',
            action_id: x.actionId,
            text: { type: 'plain_text', text: cut(plain(x.label), 75) },
            value: x.value.slice(0, 2000),
            ...(x.style ? { style: x.style } : {}),
            ...(x.confirm
              ? {
                  confirm: {
                    title: { type: 'plain_text', text: plain(x.confirm.title) },
                    text: { type: 'mrkdwn', text: mrkdwn(x.confirm.text) },
                    confirm: { type: 'plain_text', text: x.confirm.yes },
                    deny: { type: 'plain_text', text: x.confirm.no },
                  },
                }
              : {}),
          })),
        },
      ];
  }
}

/** Renders a message as `{ text, blocks }` for chat.postMessage / chat.update / response_url. */
export function renderSlack(msg: ChatMessage): { text: string; blocks: SlackBlock[] } {
  const blocks = (msg.blocks ?? [{ type: 'text', text: msg.text }]).flatMap(renderBlock).slice(0, 50);
  return { text: cut(mrkdwn(msg.text), 3900), blocks };
}
