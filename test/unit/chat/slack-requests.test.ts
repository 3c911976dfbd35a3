import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isAllowedResponseUrl, refuseUnfreshRequests, requestSkewS } from '../../../src/chat/slack/requests.js';

/** Runs one request through the freshness check: the status it answered, or 'passed' to Bolt. */
function through(headers: Record<string, string>, method = 'POST', now = 1_700_000_000_000): number | 'passed' {
  let status: number | 'passed' | undefined;
  const listener = refuseUnfreshRequests(
    () => (status = 'passed'),
    () => undefined,
    300,
    () => now,
  );
  const res = { writeHead: (s: number) => (status = s), end: () => undefined } as unknown as ServerResponse;
  listener({ method, headers } as unknown as IncomingMessage, res);
  return status!;
}

describe('Slack request freshness', () => {
  const now = 1_700_000_000;
  it('refuses a timestamp more than 5 minutes ahead or behind, and one missing, before Bolt sees it', () => {
    expect(through({ 'x-slack-request-timestamp': String(now + 600) })).toBe(401);
    expect(through({ 'x-slack-request-timestamp': String(now + 301) })).toBe(401);
    expect(through({ 'x-slack-request-timestamp': String(now - 301) })).toBe(401);
    expect(through({})).toBe(401);
    expect(through({ 'x-slack-request-timestamp': '1e12' })).toBe(401);
  });

  it('passes fresh ones, and requests that are not POSTs (/healthz)', () => {
    expect(through({ 'x-slack-request-timestamp': String(now + 299) })).toBe('passed');
    expect(through({ 'x-slack-request-timestamp': String(now - 299) })).toBe('passed');
    expect(through({}, 'GET')).toBe('passed');
    expect(requestSkewS(String(now - 10), now * 1000)).toBe(10);
  });
});

describe('response_url origins', () => {
  const slack = ['https://hooks.slack.com'];
  it("allows Slack's hooks host only, scheme and port included", () => {
    expect(isAllowedResponseUrl('https://hooks.slack.com/commands/T1/2/abc', slack)).toBe(true);
    for (const url of [
      'http://hooks.slack.com/commands/T1/2/abc',
      'https://hooks.slack.com:8443/commands/x',
      'https://hooks.slack.com.evil.example/commands/x',
      'https://evil.example/?https://hooks.slack.com/',
      'https://user@evil.example/',
      'not a url',
      undefined,
      42,
    ])
      expect(isAllowedResponseUrl(url, slack), String(url)).toBe(false);
  });
});
