import { describe, expect, it } from 'vitest';
import { createSlackScheduler, SLACK_LIMIT_PRESETS, toSlackError } from '../../../src/chat/slack/limits.js';
import { createSilentLogger } from '../../../src/log.js';
import { showMentions } from '../../../src/core/message.js';

describe('Slack call scheduler', () => {
  it('after stop(), refuses calls in its own words (not Bottleneck\'s "limiter has been stopped")', async () => {
    const sched = createSlackScheduler(SLACK_LIMIT_PRESETS.fast, createSilentLogger());
    await sched.stop();
    let ran = false;
    const calls = [
      sched.paced('C1', 'chat.postMessage', async () => (ran = true)),
      sched.call('chat.postEphemeral', async () => (ran = true)),
      sched.update('C1/1.1', 'C1', async () => (ran = true)),
    ];
    const settled = await Promise.allSettled(calls);
    for (const r of settled) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        code: 'gearops_cancelled',
        message: expect.stringMatching(/the bot is shutting down/),
      });
    }
    expect(ran).toBe(false);
  });

  it('retries a 5xx and a dropped connection, then fails with what to do', async () => {
    const sched = createSlackScheduler({ ...SLACK_LIMIT_PRESETS.fast, defaultRetryAfterMs: 1 }, createSilentLogger());
    let n = 0;
    const err = await sched
      .paced('C1', 'chat.postMessage', async () => {
        n++;
        throw Object.assign(new Error('An HTTP protocol error occurred: statusCode = 500'), {
          code: 'slack_webapi_http_error',
          statusCode: 500,
        });
      })
      .catch((e: Error) => e);
    expect(n).toBe(SLACK_LIMIT_PRESETS.fast.maxAttempts);
    expect((err as Error).message).toMatch(/HTTP 500 — Slack answered HTTP 500 \(5 attempt\(s\)\); try again/);
    await sched.stop();
  });

  it('names the fix for a channel the bot is not in, or cannot see', () => {
    const e = (error: string) =>
      Object.assign(new Error(error), { code: 'slack_webapi_platform_error', data: { error } });
    // The channel is named by the bot's own link token (showMentions renders it as Slack's <#C9>).
    const said = (error: string) =>
      showMentions(toSlackError(e(error), 'chat.postMessage', { channel: 'C9' }).message, (k, id) => `<${k}${id}>`);
    expect(said('not_in_channel')).toBe(
      'Slack chat.postMessage failed: not_in_channel — the bot is not a member of <#C9>: invite it with `/invite @gearops`',
    );
    expect(said('channel_not_found')).toMatch(/cannot see <#C9> .*`\/invite @gearops`/);
    expect(toSlackError(e('invalid_blocks'), 'chat.update').message).toBe('Slack chat.update failed: invalid_blocks');
  });
});
