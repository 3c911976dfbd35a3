/**
 * What a `/run` fan-out shows: the count of hosts as they answer, then the gathered answers in full when they
 * fit in one message, else one summary line per gathered block (the whole output goes up as a file). Pure.
 */
import type { Block, ChatMessage } from '../src/core/message.js';
import { blockHeader, type GatherBlock } from '../src/core/gather.js';
import { foldNodeSet } from '../src/core/nodeset.js';
import { formatDuration } from './shared.js';
import type { HostResult } from './run-fanout-host.js';

/** Gathered blocks shown in full at most; past this the message is a summary and the output a file. */
const MAX_BLOCKS = 20;
/** Summary lines shown at most. */
const MAX_SUMMARY_LINES = 40;

/** One fan-out as its message names it. */
export interface FanoutView {
  /** The command line and the target word, as typed. */
  line: string;
  word: string;
  /** The message's first line: who ran what on which hosts. */
  title: string;
  hosts: readonly string[];
  started: number;
}

/** The message while hosts answer: how many run, are done and failed, and which are still awaited. */
export function fanoutProgress(view: FanoutView, results: ReadonlyMap<string, HostResult>): ChatMessage {
  const failed = [...results.values()].filter((r) => r.failed).length;
  const done = results.size - failed;
  const running = view.hosts.filter((h) => !results.has(h));
  const waiting = running.length ? ` · waiting for ${foldNodeSet(running)}` : '';
  const status = `${view.hosts.length} hosts: ${running.length} running · ${done} done · ${failed} failed · ${formatDuration(Date.now() - view.started)}${waiting}`;
  return {
    text: `${view.line} on ${view.word} — ${status}`,
    blocks: [
      { type: 'text', text: view.title },
      { type: 'context', text: status },
    ],
  };
}

/**
 * The final message: the gathered blocks in full when they fit in `messageChars`, else a summary (`fits` false:
 * the caller attaches the whole output).
 */
export function fanoutFinal(
  view: FanoutView,
  blocks: GatherBlock[],
  status: string,
  messageChars: number,
): { msg: ChatMessage; fits: boolean } {
  const full = fullBlocks(blocks);
  const fits =
    blocks.length <= MAX_BLOCKS &&
    full.reduce((n, b) => n + ('text' in b ? b.text.length : 0), 0) <= messageChars &&
    blocks.every((b) => b.output.length <= 2800);
  const body = fits ? full : summaryBlocks(blocks);
  const note = fits ? '' : ' · the whole output, each line prefixed `host: `, is in the attached file';
  return {
    fits,
    msg: {
      text: `${view.line} on ${view.word} — ${status}`,
      blocks: [{ type: 'text', text: view.title }, ...body, { type: 'context', text: `${status}${note}` }],
    },
  };
}

/** Each gathered block in full: its header, then its output. */
function fullBlocks(blocks: GatherBlock[]): Block[] {
  return blocks.flatMap((b): Block[] => [
    { type: 'text', text: `*${blockHeader(b)}*` },
    ...(b.output ? [{ type: 'code' as const, text: b.output }] : []),
  ]);
}

/** One line per gathered block (no output): for messages whose output went into a file. */
export function summaryBlocks(blocks: GatherBlock[]): Block[] {
  const lines = blocks.map((b) => {
    const n = b.output ? b.output.replace(/\n$/, '').split('\n').length : 0;
    return `${blockHeader(b)}${n ? ` · ${n} line${n === 1 ? '' : 's'}` : ''}`;
  });
  const shown = lines.slice(0, MAX_SUMMARY_LINES);
  if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more (see the file)`);
  return [{ type: 'code', text: shown.join('\n') }];
}
