import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET as SIGNING,
  startHttpBotStack,
  type ApiCall,
  type HttpBotStack,
  type SlackFault,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';

/**
 * Every kind of call the bot makes fails in turn (a Slack error, HTTP 500, a dropped connection): the bot keeps
 * serving, and the requester is told privately, once, what went wrong and what to do. An unhandled rejection
 * anywhere would fail this file (vitest reports it), as it used to end the bot's process.
 */
describe('the bot when Slack calls fail', () => {
  let stack: HttpBotStack;
  let trigger = 0;
  // The fault in force: calls of `method` (or all of `methods`) fail with `fault`.
  let active: { methods: string[]; fault: SlackFault } | null = null;

  beforeAll(async () => {
    stack = await startHttpBotStack({
      policy: {
        yaml:
          'version: 1\ncommands:\n  - rule: diagnostics\n    grep: true\n' +
          '    allow: [uptime, hostname, "seq <int:1..100000>", "sleep <int:1..3>"]\n',
      },
      workerHost: 'server1',
      faults: { pick: ({ method }) => (active?.methods.includes(method) ? active.fault : undefined) },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** Sends `/run <text>` (in a channel of its own unless told); resolves with its trigger and channel. */
  async function run(text: string, inChannel?: string) {
    const n = ++trigger;
    const channel = inChannel ?? `CF${n}`;
    const fields = {
      command: '/run',
      text,
      channel_id: channel,
      user_id: 'U1',
      user_name: 'alice',
      response_url: `${RESPONSE_ORIGIN}/respond/${channel}/${n}`,
      trigger_id: `fault-${n}`,
    };
    expect((await postSlashCommand(stack.base, SIGNING, fields)).status).toBe(200);
    return { trigger: fields.trigger_id, channel };
  }

  /** What the requester was told privately about `channel`'s command: response_url bodies and postEphemerals. */
  function privateAnswers(channel: string, trig?: string): string[] {
    const path = trig ? `/respond/${channel}/${trig.replace('fault-', '')}` : `/respond/${channel}/`;
    return [
      ...stack.responses
        .filter((r) => (trig ? r.path === path : r.path.startsWith(path)))
        .map((r) => JSON.stringify(r.body)),
      ...stack.api.calls
        .filter((c: ApiCall) => c.method === 'chat.postEphemeral' && c.body.channel === channel && !c.reply?.fault)
        .map((c) => JSON.stringify(c.body)),
    ];
  }

  const audited = async (trig: string) =>
    (await stack.bot.ctx.store!.audit.recent(500)).find((a) => a.requestId === trig);

  async function stillServing() {
    const r = await fetch(`${stack.base}/healthz`);
    expect(r.status).toBe(200);
  }

  /** Waits for the command's audit row and private answer, lifts the fault, checks the bot serves; the answers. */
  async function settle(t: string, channel: string, status: 'ok' | 'denied'): Promise<string[]> {
    await until(async () => (await audited(t))?.status === status);
    await until(() => privateAnswers(channel).length > 0);
    active = null;
    await stillServing();
    const told = privateAnswers(channel);
    expect(told).toHaveLength(1);
    return told;
  }

  const faults: Array<[string, SlackFault, RegExp]> = [
    ['not_in_channel', { error: 'not_in_channel' }, /not a member of <#CF\d+>: invite it with `\/invite @gearops`/],
    ['channel_not_found', { error: 'channel_not_found' }, /cannot see <#CF\d+>.*\/invite @gearops/],
    ['HTTP 500', { status: 500 }, /HTTP 500 \(\d+ attempt\(s\)\); try again in a moment/],
    ['a dropped connection', 'drop', /could not be reached \(\d+ attempt\(s\)\); try again in a moment/],
  ];

  describe.each(faults)('%s', (_name, fault, advice) => {
    it('on chat.postMessage: the job still runs, the requester gets the result privately, once', async () => {
      active = { methods: ['chat.postMessage'], fault };
      const { trigger: t, channel } = await run('server1 hostname');
      const told = await settle(t, channel, 'ok');
      expect(told[0]).toContain('Could not post in the channel');
      expect(told[0]).toMatch(advice);
      expect(told[0]).toContain('exit 0');
    });

    it('on chat.update: the requester is told once, with the result', async () => {
      // `sleep 1` outlasts the first post, so the final state must go out as an update.
      const { trigger: t, channel } = await run('server1 sleep 1');
      await until(() => stack.api.calls.some((c) => c.method === 'chat.postMessage' && c.body.channel === channel));
      active = { methods: ['chat.update'], fault };
      const told = await settle(t, channel, 'ok');
      expect(told[0]).toContain('Could not update the message in the channel');
      expect(told[0]).toMatch(advice);
      expect(told[0]).toContain('exit 0');
    });

    it.each(['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal'])(
      'on the file upload step %s: the message keeps its preview and the requester is told once',
      async (step) => {
        active = { methods: [step], fault };
        const { trigger: t, channel } = await run('server1 seq 5000');
        const told = await settle(t, channel, 'ok');
        expect(told[0]).toContain('The full output could not be attached');
        const shown = stack.api.calls.filter(
          (c) => (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.body.channel === channel,
        );
        expect(shown.at(-1)?.body.blocks).toContain('earlier characters in the attached file');
      },
    );

    it('on response_url: the answer goes by chat.postEphemeral instead, once', async () => {
      active = { methods: ['respond'], fault };
      const { trigger: t, channel } = await run('server1 cat /etc/shadow');
      const told = await settle(t, channel, 'denied');
      expect(told[0]).toContain('`cat` is not in any rule');
    });

    it('on response_url and chat.postEphemeral both: nothing reaches the requester, and the bot goes on', async () => {
      active = { methods: ['respond', 'chat.postEphemeral'], fault };
      const { trigger: t, channel } = await run('server1 cat /etc/shadow');
      await until(async () => (await audited(t))?.status === 'denied');
      await until(() => stack.api.calls.some((c) => c.method === 'chat.postEphemeral' && c.body.channel === channel));
      active = null;
      await stillServing();
      expect(privateAnswers(channel)).toEqual([]);
    });
  });

  it('a queued command whose "queued" note cannot be posted: every command runs, each requester told once', async () => {
    active = { methods: ['chat.postMessage'], fault: { error: 'not_in_channel' } };
    // One more than the host's 4 slots: the fifth waits, and its note is the post that used to end the process.
    const sent = await Promise.all(Array.from({ length: 5 }, () => run('server1 sleep 1', 'CQUEUE')));
    for (const { trigger: t } of sent) await until(async () => (await audited(t))?.status === 'ok');
    active = null;
    await stillServing();
    for (const { trigger: t } of sent) {
      const told = privateAnswers('CQUEUE', t);
      expect(told).toHaveLength(1);
      expect(told[0]).toContain('invite it with `/invite @gearops`');
    }
  });

  it('answers later commands as before', async () => {
    const { trigger: t, channel } = await run('server1 hostname');
    await until(async () => (await audited(t))?.status === 'ok');
    await until(() =>
      stack.api.calls.some(
        (c) =>
          (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
          c.body.channel === channel &&
          c.body.blocks?.includes('exit 0'),
      ),
    );
    expect(privateAnswers(channel)).toEqual([]);
  });
});
