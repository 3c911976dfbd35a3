import { describe, expect, it } from 'vitest';
import { renderSlack } from '../../../src/chat/slack/render.js';
import { channelMention, mention, renderRecords, resultBlock } from '../../../src/core/message.js';

describe('renderSlack', () => {
  it("makes the bot's own mentions live in the fallback text and in blocks, and escapes everything else", () => {
    const out = renderSlack({
      text: `${mention('U123')} pressed <@U9> <!channel> & <https://evil|x>`,
      blocks: [{ type: 'text', text: `${mention('W9')} ran <b> in ${channelMention('C42')}` }],
    });
    expect(out.text).toBe('<@U123> pressed &lt;@U9&gt; &lt;!channel&gt; &amp; &lt;https://evil|x&gt;');
    expect(JSON.stringify(out.blocks)).toContain('<@W9> ran &lt;b&gt; in <#C42>');
  });

  it("shows the bot's mentions as plain ids where nothing may ping: code, headers, button labels", () => {
    const out = renderSlack({
      text: 'x',
      blocks: [
        { type: 'code', text: `by ${mention('U1')}` },
        { type: 'header', text: `by ${mention('U2')}` },
        { type: 'buttons', buttons: [{ actionId: 'a', label: `ask ${mention('U3')}`, value: 'v' }] },
      ],
    });
    const json = JSON.stringify(out.blocks);
    expect(json).toContain('by @U1');
    expect(json).toContain('by @U2');
    expect(json).toContain('ask @U3');
    expect(json).not.toMatch(/<@|\\ue000|\uE000/);
  });

  it('renders a forged token (without the key) as text', () => {
    const out = renderSlack({ text: '\uE000AAAAAAAAAAAA@U1\uE001 <@U1>' });
    expect(out.text).not.toContain('<@');
    expect(out.text).not.toMatch(/[\uE000\uE001]/);
  });

  it('escapes output in code blocks and cannot be closed early by backticks in it', () => {
    const out = renderSlack({ text: 'x', blocks: [{ type: 'code', text: '<@U1> ``` done' }] });
    const text = (out.blocks[0] as { text: { text: string } }).text.text;
    expect(text.startsWith('```')).toBe(true);
    expect(text.endsWith('```')).toBe(true);
    expect(text.slice(3, -3)).not.toContain('```');
    expect(text).toContain('&lt;@U1&gt;');
  });

  it('stays within Slack limits: 50 blocks, 3000 characters a section, 4000 for text', () => {
    const out = renderSlack({
      text: 'y'.repeat(10_000),
      blocks: Array.from({ length: 60 }, () => ({ type: 'text' as const, text: 'z'.repeat(5000) })),
    });
    expect(out.blocks).toHaveLength(50);
    expect(out.text.length).toBeLessThanOrEqual(4000);
    for (const b of out.blocks) expect((b as { text: { text: string } }).text.text.length).toBeLessThanOrEqual(3000);
  });
});

describe('resultBlock', () => {
  it('keeps a narrow result as a table', () => {
    expect(resultBlock(['@@server_id', '@@read_only'], [['1', '0']])).toEqual({
      type: 'table',
      columns: ['@@server_id', '@@read_only'],
      rows: [['1', '0']],
    });
  });

  it('lays a wide result out one column per line, leaving out empty and NULL values, so that every value fits in a Slack section', () => {
    const columns = Array.from({ length: 60 }, (_, i) => `Column_${i}`);
    const row = columns.map((_, i) => (i % 3 === 0 ? '' : i % 3 === 1 ? 'NULL' : `value ${i}`));
    const block = resultBlock(columns, [row]);
    expect(block.type).toBe('code');
    const text = (block as { text: string }).text;
    expect(text).toBe(renderRecords(columns, [row]));
    expect(text.split('\n')[0]).toBe('── row 1 ──');
    expect(text).toContain(' Column_2: value 2');
    expect(text).toContain('Column_59: value 59');
    expect(text).not.toContain('Column_0:');
    expect(text).not.toContain('Column_1:');
    expect(text.split('\n').at(-1)).toBe('(40 empty or NULL columns not shown)');
    const slack = renderSlack({ text: 'x', blocks: [block] });
    expect((slack.blocks[0] as { text: { text: string } }).text.text).not.toContain('(cut)');
  });
});
