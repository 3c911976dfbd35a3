import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../src/core/policy/index.js';
import type { CommandInvocation, ActionInvocation } from '../../../src/core/ports/commands.js';
import type { Incident } from '../../../src/core/ports/store.js';
import { createFailoverCommands } from '../../../commands/replica-failover.js';
import { createIncidentActions } from '../../../src/monitor/incident-actions.js';
import { runFailover } from '../../../src/cluster/failover.js';
import { createSilentLogger } from '../../../src/log.js';
import { createRecordingSink } from '../../helpers/fleet.js';
import { createRecordingReply } from '../fakes/ports.js';
import { fakeFailoverWorld } from '../cluster/fake-servers.js';
import { topologyLockName } from '../../../src/cluster/topology-lock.js';

const policy = loadPolicyFile('policies/default.yml');
const M = '10.0.0.1:3306';
const nobody = { userId: 'U1', channelId: 'C1', roles: [] as string[] };
const dba = { userId: 'U2', channelId: 'C1', roles: ['dba'] };

function setup(opts: { lost?: boolean; confirm?: boolean } = {}) {
  const w = fakeFailoverWorld();
  w.world.write(M);
  if (opts.lost !== false) w.world.kill(M);
  const chat = createRecordingSink();
  const cmds = createFailoverCommands({ policy, sequence: w.deps, chat });
  const rec = createRecordingReply('C1', { confirm: opts.confirm ?? false });
  const inv = (principal: typeof nobody): CommandInvocation => ({
    command: 'replica',
    text: '',
    principal,
    reply: rec.reply,
    source: 'slack',
    requestId: 'r1',
  });
  return { w, chat, cmds, rec, inv };
}

describe('/replica failover', () => {
  it('denies a user the policy does not allow, naming the rule, and changes nothing', async () => {
    const s = setup({ confirm: true });
    // The command throws the coded denial (authorize); the router answers it ("Denied: …") with the rule.
    await expect(s.cmds.failover(s.inv(nobody), ['c'])).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      data: { rule: 'dba-changes', action: 'replica.failover' },
    });
    expect(s.rec.confirms).toEqual([]);
    expect(s.w.world.calls).toEqual([]);
    expect(s.w.journal.rows).toEqual([]);
  });

  it('refuses a master that answers before asking anything', async () => {
    const s = setup({ lost: false, confirm: true });
    const out = await s.cmds.failover(s.inv(dba), ['c']);
    expect(out.status).toBe('refused');
    expect(s.rec.confirms).toEqual([]);
    expect(s.rec.ephemerals[0]).toMatch(
      /the master m:3306 answers\. A master that answers is changed with \/replica switchover/,
    );
  });

  it('asks, naming the replica it would promote, and does nothing when not confirmed', async () => {
    const s = setup({ confirm: false });
    const out = await s.cmds.failover(s.inv(dba), ['c', '--yes']);
    // --yes answers only in the console: in Slack the button is the only way.
    expect(out).toMatchObject({ status: 'refused', summary: 'not confirmed' });
    expect(s.rec.confirms[0]).toMatch(/Fail over \*c\*: promote r1:3306 to master\?/);
    expect(s.w.journal.rows).toEqual([]);
  });

  it('is refused, changing nothing, while another instance holds the cluster topology lock', async () => {
    const s = setup({ confirm: true });
    expect(await s.w.locks.lock(topologyLockName('c')).tryAcquire()).toBe(true);
    const out = await s.cmds.failover(s.inv(dba), ['c']);
    expect(out.status).toBe('refused');
    expect(s.rec.updates.at(-1)?.text).toMatch(
      /not failing over c: a topology change of c is running on another gearops instance .*Nothing was changed/,
    );
    expect(s.w.world.calls).toEqual([]);
    expect(s.w.journal.rows).toEqual([]);
  });

  it('asks to finish a cut failover saying its chosen replica died, then promotes another', async () => {
    const s = setup({ confirm: true });
    s.w.deps.afterStep = (step) => {
      if (step === 'others_detached') throw new Error('bot killed');
    };
    await expect(
      runFailover(s.w.deps, 'c', { actor: 'U9', automatic: false, report: async () => undefined }),
    ).rejects.toThrow('bot killed');
    delete s.w.deps.afterStep;
    s.w.world.kill('10.0.0.2:3306'); // r1, the chosen one
    const out = await s.cmds.failover(s.inv(dba), ['c']);
    expect(s.rec.confirms[0]).toMatch(
      /Finish the failover of \*c\*\? .* But r1:3306 does not answer now: it was not promoted yet, so another replica/,
    );
    expect(out.status, out.summary).toBe('ok');
    expect(s.w.record().nodes.find((n) => n.role === 'master')?.host).toBe('r2');
    const thread = s.rec.posts.map((p) => p.text).join('\n');
    expect(thread).toMatch(/the choice changed: r1:3306, which failover #1 chose, does not answer/);
  });

  it('runs when confirmed, every step in the message thread', async () => {
    const s = setup({ confirm: true });
    const out = await s.cmds.failover(s.inv(dba), ['c']);
    expect(out.status, out.summary).toBe('ok');
    const head = s.rec.posts[0]!;
    const thread = s.rec.posts.filter((p) => p.threadTs === head.ref.ts).map((p) => p.text);
    expect(thread.some((t) => /✓ promoted r1:3306/.test(t))).toBe(true);
    expect(s.rec.updates.at(-1)?.text).toMatch(/✅ failover of \*c\*: r1:3306 is the master of c/);
  });
});

describe('/replica rejoin', () => {
  it('denies, naming the rule', async () => {
    const s = setup({ confirm: true });
    await expect(s.cmds.rejoin(s.inv(nobody), ['c', 'm:3306'])).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      data: { rule: 'dba-changes', action: 'replica.rejoin' },
    });
    expect(s.rec.confirms).toEqual([]);
    expect(s.w.world.calls).toEqual([]);
  });
});

describe('the Promote button', () => {
  const incident = (): Incident => ({
    id: 5,
    cluster: 'c',
    host: 'm',
    port: 3306,
    kind: 'master_lost',
    state: 'open',
    errno: 2003,
    error: null,
    lag: null,
    openedAt: new Date(),
    resolvedAt: null,
    alertChannel: 'CALERTS',
    alertTs: '9.9',
    acknowledgedBy: null,
    pooledOut: false,
  });
  function button(principal: typeof nobody) {
    const s = setup();
    const i = incident();
    const actions = createIncidentActions({
      store: {
        clusters: { get: s.w.deps.clusters.get } as never,
        incidents: { get: async () => i } as never,
        pool: undefined as never,
      },
      probe: { status: s.w.world.status } as never,
      policy,
      chat: s.chat,
      logger: createSilentLogger(),
      failover: s.w.deps,
    });
    const rec = createRecordingReply('CALERTS');
    const inv: ActionInvocation = {
      actionId: 'incident.promote',
      value: '5|r2:3306',
      principal,
      message: { channel: 'CALERTS', ts: '9.9' },
      reply: rec.reply,
      source: 'slack',
      requestId: 'r2',
    };
    return { s, rec, run: () => actions['incident.']!(inv) };
  }

  it('is denied to a user the policy does not allow, naming the rule', async () => {
    const b = button(nobody);
    // The handler throws the coded denial (authorize); the router answers it ("Denied: …") with the rule.
    await expect(b.run()).rejects.toMatchObject({ code: 'gearops_policy_denied', data: { rule: 'dba-changes' } });
    expect(b.s.w.journal.rows).toEqual([]);
  });

  it('is refused, changing nothing, while another instance holds the cluster topology lock', async () => {
    const b = button(dba);
    expect(await b.s.w.locks.lock(topologyLockName('c')).tryAcquire()).toBe(true);
    const out = await b.run();
    expect(out.status).toBe('refused');
    const thread = b.s.chat.posts.filter((p) => p.threadTs === '9.9').map((p) => p.text);
    expect(thread.at(-1)).toMatch(
      /✗ not failing over c: a topology change of c is running on another gearops instance/,
    );
    expect(b.s.w.world.calls).toEqual([]);
    expect(b.s.w.journal.rows).toEqual([]);
  });

  it('promotes the replica it names, telling the alert thread', async () => {
    const b = button(dba);
    const out = await b.run();
    expect(out.status, out.summary).toBe('ok');
    expect(b.s.w.record().nodes.find((n) => n.role === 'master')?.host).toBe('r2');
    const thread = b.s.chat.posts.filter((p) => p.threadTs === '9.9').map((p) => p.text);
    expect(thread[0]).toMatch(/pressed \*Promote r2:3306\*/);
    expect(thread.some((t) => /failover #1 done: r2:3306 is the master of c/.test(t))).toBe(true);
    expect(b.s.w.journal.rows[0]?.detail.thread).toEqual({ channel: 'CALERTS', ts: '9.9' });
  });
});
