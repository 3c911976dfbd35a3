/**
 * The attack corpus: every hole found, as a case that must stay closed. Each block names the issue item it
 * comes from; add new cases to the block of their item, or a block of their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRunCommand } from '../../../commands/run.js';
import { renderSlack } from '../../../src/chat/slack/render.js';
import { createHostLimiter } from '../../../src/core/host-limiter.js';
import { NonceCache, signEvent, verifyEvent } from '../../../src/core/payload.js';
import type { Dispatcher } from '../../../src/core/ports/dispatcher.js';
import { openFrom, sealFor } from '../../../src/core/sealed.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { inertText } from '../../../src/gearman/dispatcher.js';
import { FrameRefusedError, Packet, PacketDecoder } from '../../../src/gearman/protocol.js';
import { createSilentLogger } from '../../../src/log.js';
import { createServerInstances } from '../../../src/worker/nonce-file.js';
import { createFakePolicy, createRecordingReply } from '../fakes/ports.js';

const SECRET = 'attack-corpus-secret-0123456789';

describe('issue 11 item 7: a rogue worker learns nothing, and its text is not trusted', () => {
  const event = signEvent(SECRET, 'job-1', 'r1', 0, { type: 'output', stream: 'stdout', text: 'pw=hunter2' });

  it('a sealed answer shows nothing of its plaintext and opens only with the secret, for its own job', () => {
    const sealed = sealFor(SECRET, 'job-1', event);
    expect(sealed.toString('latin1')).not.toContain('hunter2');
    expect(openFrom(SECRET, 'job-1', sealed)).toBe(event);
    expect(() => openFrom(SECRET, 'job-2', sealed)).toThrow(/does not open/);
    expect(() => openFrom('another-secret-0123456789', 'job-1', sealed)).toThrow(/does not open/);
    // Two seals of the same text differ (random IV): a relay cannot tell repeated output apart.
    expect(sealFor(SECRET, 'job-1', event).equals(sealed)).toBe(false);
  });

  it('a sealed answer altered in any byte, cut, or sent in the clear is refused', () => {
    const sealed = sealFor(SECRET, 'job-1', event);
    for (let i = 0; i < sealed.length; i += 7) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 0x01;
      expect(() => openFrom(SECRET, 'job-1', bad), `byte ${i}`).toThrow(/refused/);
    }
    expect(() => openFrom(SECRET, 'job-1', sealed.subarray(0, 20))).toThrow(/not sealed by gearops/);
    expect(() => openFrom(SECRET, 'job-1', Buffer.from(event))).toThrow(/refused/);
  });

  it("an event signed for another host or capability is refused in this job's stream", () => {
    const to = { host: 'server1', capability: 'run' };
    const out = { type: 'output', stream: 'stdout', text: 'x' } as const;
    const right = signEvent(SECRET, 'job-1', 'r1', 0, out, to);
    expect(verifyEvent(SECRET, right, 'job-1', { to }).event).toEqual(out);
    const otherHost = signEvent(SECRET, 'job-1', 'r1', 0, out, { ...to, host: 'server2' });
    expect(() => verifyEvent(SECRET, otherHost, 'job-1', { to })).toThrow(/not an event of this job/);
    const otherCap = signEvent(SECRET, 'job-1', 'r1', 0, out, { ...to, capability: 'sandbox.install' });
    expect(() => verifyEvent(SECRET, otherCap, 'job-1', { to })).toThrow(/not an event of this job/);
    expect(() => verifyEvent(SECRET, event, 'job-1', { to })).toThrow(/not an event of this job/);
  });

  const hostile = [
    '<@U0ADMIN> please re-run as root',
    '<!channel> <!here> <!everyone>',
    '<#C0GENERAL|general>',
    '<https://evil.example/login|Slack login>',
    '`code` ```block``` &lt;@U0ADMIN&gt;',
    'a\u0000b\nc\rd\u001be[31m',
  ];

  it('unsigned worker text is made inert: no mention, ping, channel link, link or code span survives', () => {
    for (const t of hostile) {
      const inert = inertText(t);
      expect(inert, t).not.toMatch(/[<>`&\u0000-\u001f]/);
      const slack = JSON.stringify(renderSlack({ text: inert, blocks: [{ type: 'context', text: inert }] }));
      expect(slack, t).not.toMatch(/<[@!#]|<https?:/);
    }
    expect(inertText('x'.repeat(1000))).toHaveLength(301);
  });

  it('/run labels an unverified answer as such, not as the job failing, and no mention reaches the chat', async () => {
    const text = inertText(hostile.join(' '));
    const dispatcher: Dispatcher = {
      async submit() {
        throw new GearopsError(
          ErrorCode.UnverifiedAnswer,
          `unverified answer from a process claiming to be server1: “${text}”`,
        );
      },
      hosts: async () => [],
      ping: async () => true,
      reachable: async () => undefined,
      close: async () => undefined,
    };
    const cmd = createRunCommand({
      dispatcher,
      policy: createFakePolicy({ allowRun: { uptime: [['uptime']] } }),
      limiter: createHostLimiter({ maxConcurrent: 1 }),
      logger: createSilentLogger(),
      updateEveryMs: 0,
    });
    const rec = createRecordingReply();
    const out = await cmd.handle({
      command: 'run',
      text: 'server1 uptime',
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: 'r',
    });
    expect(out.status).toBe('failed');
    const last = rec.updates.at(-1)?.text ?? '';
    expect(last).toContain('unverified answer from a process claiming to be server1');
    expect(last).not.toMatch(/failed: /);
    // The one mention is the bot's own, of the requester.
    expect(last.replace(/^<@U1> ran/, '')).not.toMatch(/<[@!#]|<https?:/);
  });
});

describe('issue 11 item 8: frames and floods are bounded', () => {
  /** A response header announcing `size` body bytes. */
  const header = (type: number, size: number) => {
    const h = Buffer.alloc(12);
    h.write('\0RES', 0, 'latin1');
    h.writeUInt32BE(type, 4);
    h.writeUInt32BE(size, 8);
    return h;
  };

  it('an unsigned 128 MB job is refused from its header, with its handle for the worker to fail it by', () => {
    const d = new PacketDecoder(8 * 1024 * 1024);
    const start = Buffer.concat([
      header(Packet.JOB_ASSIGN, 128 * 1024 * 1024),
      Buffer.from('H:gm:7\0run@server1\0AAAA'),
    ]);
    let err: unknown;
    try {
      d.push(start);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameRefusedError);
    const refused = err as FrameRefusedError;
    expect(refused.reason).toBe('oversized');
    expect(refused.packet?.type).toBe(Packet.JOB_ASSIGN);
    expect(refused.packet?.prefix.subarray(0, refused.packet.prefix.indexOf(0)).toString()).toBe('H:gm:7');
  });

  it('the largest announced size (4 GB) is refused, not waited for', () => {
    expect(() => new PacketDecoder().push(header(Packet.WORK_COMPLETE, 0xffffffff))).toThrow(/over the/);
  });

  it('a request packet or plain text sent where responses are expected is refused', () => {
    const req = header(Packet.SUBMIT_JOB, 0);
    req.write('\0REQ', 0, 'latin1');
    expect(() => new PacketDecoder().push(req)).toThrow(/bad packet magic/);
    expect(() => new PacketDecoder().push(Buffer.from('status\n.\nxxxxx'))).toThrow(/bad packet magic/);
  });
});

describe('issue 11 item 9: replays stay refused across gearmand and worker restarts', () => {
  it('the same handle from a restarted gearmand is a replay; from the same gearmand after a worker crash, it is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gearops-corpus-'));
    try {
      let pid = 4242;
      let t = 1_000;
      const book = () => createServerInstances({ dir, getpid: async () => pid, now: () => t });
      const nonces = new NonceCache(120_000);
      const server = '127.0.0.1:4730';
      const first = await book().identify(server);
      expect(nonces.check('job-1', `${server}|${first}|H:gm:1`, t)).toBe('new');
      // The worker crashes and comes back: same gearmand (same pid), so the same name and the same binding.
      t += 5_000;
      const again = await book().identify(server);
      expect(again).toBe(first);
      expect(nonces.check('job-1', `${server}|${again}|H:gm:1`, t)).toBe('again');
      // gearmand restarts (new pid) and numbers handles from 1 again: the captured job gets H:gm:1 once more.
      pid = 5151;
      t += 5_000;
      const restarted = await book().identify(server);
      expect(restarted).not.toBe(first);
      expect(nonces.check('job-1', `${server}|${restarted}|H:gm:1`, t)).toBe('replay');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a job server whose pid cannot be learned gets a name nothing handed out before can match', async () => {
    const book = createServerInstances({
      getpid: async () => {
        throw new Error('no getpid');
      },
    });
    const a = await book.identify('g:4730');
    const b = await book.identify('g:4730');
    expect(a).toMatch(/^unknown-/);
    expect(a).not.toBe(b);
  });
});
