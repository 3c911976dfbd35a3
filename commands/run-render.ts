/**
 * What `/run` on one host shows: the message for a job's output and status, and the final message and outcome
 * of its verified result. Pure: no chat, no job.
 */
import { ErrorCode } from '../src/errors.js';
import type { ChatMessage, Block } from '../src/core/message.js';
import { stripAnsi } from '../src/core/message.js';
import { redactSecrets } from '../src/core/redact.js';
import type { CommandOutcome } from '../src/core/ports/commands.js';
import type { JobResult } from '../src/core/ports/dispatcher.js';
import type { RunDecision } from '../src/core/ports/policy.js';
import type { RunValue } from '../src/core/capabilities.js';
import { formatDuration } from './shared.js';

/** One run as its message names it: where, what, who; output longer than `previewChars` goes up as a file. */
export interface RunView {
  host: string;
  line: string;
  /** The requester, as a mention. */
  who: string;
  previewChars: number;
}

/** Keeps the tail of the output that fits the preview. */
function preview(output: string, limit: number): { text: string; cut: boolean } {
  if (output.length <= limit) return { text: output, cut: false };
  const tail = output.slice(output.length - limit);
  const nl = tail.indexOf('\n');
  return { text: nl >= 0 && nl < 200 ? tail.slice(nl + 1) : tail, cut: true };
}

/** The run's message: the command, the tail of its output (redacted), and its status. */
export function renderRun(view: RunView, output: string, status: string, extra: Block[] = []): ChatMessage {
  const { host, line, who } = view;
  const clean = redactSecrets(stripAnsi(output));
  const p = preview(clean, view.previewChars);
  const blocks: Block[] = [{ type: 'text', text: `${who} ran \`${line}\` on *${host}*` }];
  if (clean.length > 0)
    blocks.push({
      type: 'code',
      text: p.cut ? `… (${clean.length - p.text.length} earlier characters in the attached file)\n${p.text}` : p.text,
    });
  blocks.push(...extra, { type: 'context', text: status });
  return { text: `${host}: ${line} — ${status}`, blocks };
}

/** The final message and outcome of a job's verified result (`note`: said after the status, e.g. a restart). */
export function settleRun(
  view: RunView,
  result: JobResult<RunValue>,
  decision: RunDecision,
  output: string,
  note = '',
): { msg: ChatMessage; outcome: CommandOutcome; clean: string } {
  const { host } = view;
  if (!result.ok || !result.value) {
    const reason = result.error?.message ?? 'the worker returned no result';
    const denied = result.error?.code === ErrorCode.PolicyDenied;
    return {
      msg: renderRun(view, output, `${denied ? 'denied by the worker' : 'failed'}: ${reason}${note}`),
      clean: '',
      outcome: {
        status: denied ? 'denied' : 'failed',
        host,
        jobHandle: result.handle,
        summary: reason,
        rule: typeof result.error?.data?.rule === 'string' ? result.error.data.rule : decision.rule,
      },
    };
  }
  const v = result.value;
  const status = [
    v.timedOut
      ? `killed after its time limit (${formatDuration(decision.timeoutMs)})`
      : v.signal
        ? `killed by ${v.signal}`
        : `exit ${v.exitCode}`,
    formatDuration(v.durationMs),
    v.truncated ? `output cut at ${v.outputBytes} bytes` : `${v.outputBytes} bytes`,
    `rule ${v.rule ?? decision.rule ?? '?'}`,
  ].join(' · ');
  // Credentials in the output (other users' command lines in `ps auxww`) never reach the channel.
  const clean = redactSecrets(stripAnsi(v.output));
  const ok =
    !v.timedOut &&
    v.signal === null &&
    (v.exitCode === 0 || (v.exitCode === 1 && (decision.pipeline?.length ?? 1) > 1));
  return {
    msg: renderRun(view, clean.length === 0 ? '(no output)' : clean, `${status}${note}`),
    clean,
    outcome: {
      status: ok ? 'ok' : 'failed',
      host,
      jobHandle: result.handle,
      exitCode: v.exitCode,
      durationMs: v.durationMs,
      outputBytes: v.outputBytes,
      rule: v.rule ?? decision.rule,
      summary: status,
    },
  };
}
