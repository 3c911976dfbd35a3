/** ChatMessage → Block Kit, within Slack's limits (3000 characters a section, 50 blocks, 4000 for `text`). */
import { renderTable, type Block, type ChatMessage } from '../../core/message.js';

/** A Block Kit block (loosely typed: Bolt's types are wider than what we build). */
export type SlackBlock = Record<string, unknown>;

const SECTION_MAX = 3000;

/** Escapes text for mrkdwn (Slack's three control characters). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Keeps user mentions (<@U123>) and channel links (<#C123>, which notify nobody) working; escapes the rest. */
function mrkdwn(s: string): string {
  return escapeMrkdwn(s)
    .replace(/&lt;@([UW][A-Z0-9]+)&gt;/g, '<@$1>')
    .replace(/&lt;#([CGD][A-Z0-9]+)&gt;/g, '<#$1>');
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
      return [{ type: 'header', text: { type: 'plain_text', text: cut(b.text, 150) } }];
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
            text: { type: 'plain_text', text: cut(x.label, 75) },
            value: x.value.slice(0, 2000),
            ...(x.style ? { style: x.style } : {}),
            ...(x.confirm
              ? {
                  confirm: {
                    title: { type: 'plain_text', text: x.confirm.title },
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
