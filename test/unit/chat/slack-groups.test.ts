import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGroupDirectory, type GroupDirectory } from '../../../src/chat/slack/groups.js';
import { createLogger } from '../../../src/log.js';

const TTL = 60_000;

/** A fake usergroups.users.list: members by group, a switch to fail, and every call recorded. */
function fakeSlack(members: Record<string, string[]>) {
  const calls: string[] = [];
  const state = { fail: null as Error | null, gate: null as Promise<void> | null };
  return {
    calls,
    members,
    state,
    async fetchMembers(g: string): Promise<string[]> {
      calls.push(g);
      if (state.gate) await state.gate;
      if (state.fail) throw state.fail;
      const list = members[g];
      if (!list) throw new Error('no_such_subteam');
      return [...list];
    },
  };
}

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return {
    logger: createLogger({ level: 'info', destination }),
    events: (name: string) => lines.filter((l) => l.event === name),
  };
}

describe('the Slack user-group directory', () => {
  let dir: GroupDirectory | undefined;
  afterEach(() => {
    dir?.stop();
    dir = undefined;
    vi.useRealTimers();
  });

  function setup(members: Record<string, string[]>, groupIds = Object.keys(members), extra: { waitMs?: number } = {}) {
    const slack = fakeSlack(members);
    const clock = { t: 1_000_000 };
    const log = capturingLogger();
    dir = createGroupDirectory({
      groupIds,
      fetchMembers: (g) => slack.fetchMembers(g),
      ttlMs: TTL,
      logger: log.logger,
      now: () => clock.t,
      ...extra,
    });
    return { slack, clock, log, dir };
  }

  it('never calls Slack when the policy names no groups', async () => {
    const { slack, clock, dir } = setup({ S0DBA: ['UIN'] }, []);
    for (let i = 0; i < 5; i++) {
      expect(await dir.groupsOf('UIN')).toEqual([]);
      clock.t += TTL * 10;
    }
    expect(slack.calls).toEqual([]);
  });

  it('looks up the groups a reloaded policy names, and forgets the ones it dropped', async () => {
    const { slack, dir } = setup({ S0DBA: ['UIN'], S0OPS: ['UIN'] }, []);
    expect(await dir.groupsOf('UIN')).toEqual([]);
    dir.setGroupIds(['S0DBA']);
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    dir.setGroupIds(['S0OPS']);
    expect(await dir.groupsOf('UIN')).toEqual(['S0OPS']);
    expect(slack.calls).toEqual(['S0DBA', 'S0OPS']);
    // Back to S0DBA: its old list was forgotten, so it is asked for again rather than trusted.
    dir.setGroupIds(['S0DBA']);
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(slack.calls).toEqual(['S0DBA', 'S0OPS', 'S0DBA']);
  });

  it('answers the policy groups a user is in, one lookup per group while fresh', async () => {
    const { slack, clock, dir } = setup({ S0DBA: ['UIN', 'UBOTH'], S0OPS: ['UBOTH', 'UOPS'] }, ['S0OPS', 'S0DBA']);
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(await dir.groupsOf('UBOTH')).toEqual(['S0DBA', 'S0OPS']);
    expect(await dir.groupsOf('UOUT')).toEqual([]);
    clock.t += TTL - 1;
    expect(await dir.groupsOf('UOPS')).toEqual(['S0OPS']);
    expect(slack.calls.sort()).toEqual(['S0DBA', 'S0OPS']);
  });

  it('looks a group up again once its list is older than the TTL, so a removal takes effect', async () => {
    const { slack, clock, dir } = setup({ S0DBA: ['UIN'] });
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    slack.members.S0DBA = [];
    clock.t += TTL / 2;
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    clock.t += TTL / 2;
    expect(await dir.groupsOf('UIN')).toEqual([]);
    expect(slack.calls).toEqual(['S0DBA', 'S0DBA']);
  });

  it('shares one lookup among concurrent requests', async () => {
    const { slack, dir } = setup({ S0DBA: ['UIN'] });
    let open!: () => void;
    slack.state.gate = new Promise<void>((r) => (open = r));
    const pending = [dir.groupsOf('UIN'), dir.groupsOf('UOUT'), dir.groupsOf('UIN'), dir.groupsOf('UIN')];
    await new Promise((r) => setImmediate(r));
    expect(slack.calls).toEqual(['S0DBA']);
    open();
    expect(await Promise.all(pending)).toEqual([['S0DBA'], [], ['S0DBA'], ['S0DBA']]);
    expect(slack.calls).toEqual(['S0DBA']);
  });

  it('gives no group when a lookup fails with nothing cached, logs once per failure streak, and recovers', async () => {
    const { slack, dir, log } = setup({ S0DBA: ['UIN'] });
    slack.state.fail = Object.assign(new Error('An API error occurred: missing_scope'), {
      code: 'slack_webapi_platform_error',
    });
    for (let i = 0; i < 4; i++) expect(await dir.groupsOf('UIN')).toEqual([]);
    expect(slack.calls).toHaveLength(4);
    expect(log.events('slack_group_lookup_failed')).toHaveLength(1);
    expect(log.events('slack_group_lookup_failed')[0]).toMatchObject({
      group: 'S0DBA',
      stale: false,
      err: expect.stringMatching(/missing_scope/),
    });
    slack.state.fail = null;
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(log.events('slack_group_lookup_recovered')).toMatchObject([{ group: 'S0DBA', failures: 4 }]);
    slack.state.fail = new Error('again');
    slack.members.S0DBA = [];
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    // A new streak is logged again only once the old one ended.
    expect(log.events('slack_group_lookup_failed')).toHaveLength(1);
  });

  it('treats a malformed answer or a synchronous throw as a failure, and asks again next time', async () => {
    const members = { S0DBA: ['UIN'] };
    let mode: 'bad' | 'throw' | 'ok' = 'bad';
    const calls: string[] = [];
    dir = createGroupDirectory({
      groupIds: ['S0DBA'],
      ttlMs: TTL,
      logger: capturingLogger().logger,
      fetchMembers: ((g: string) => {
        calls.push(mode);
        if (mode === 'throw') throw new Error('boom');
        return Promise.resolve(mode === 'bad' ? ({ users: ['UIN'] } as unknown as string[]) : members[g as 'S0DBA']);
      }) as (g: string) => Promise<string[]>,
    });
    expect(await dir.groupsOf('UIN')).toEqual([]);
    mode = 'throw';
    expect(await dir.groupsOf('UIN')).toEqual([]);
    mode = 'ok';
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(calls).toEqual(['bad', 'throw', 'ok']);
  });

  it('serves a stale list while Slack fails, until it is 3×TTL old, then drops it', async () => {
    const { slack, clock, dir, log } = setup({ S0DBA: ['UIN'] });
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    slack.state.fail = new Error('An API error occurred: fatal_error');
    clock.t += TTL + 1;
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(log.events('slack_group_lookup_failed')[0]).toMatchObject({ stale: true });
    clock.t += TTL;
    expect(await dir.groupsOf('UOUT')).toEqual([]);
    clock.t = 1_000_000 + 3 * TTL - 1;
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    clock.t += 1;
    expect(await dir.groupsOf('UIN')).toEqual([]);
    expect(await dir.groupsOf('UIN')).toEqual([]);
    expect(log.events('slack_group_cache_dropped')).toHaveLength(1);
    expect(log.events('slack_group_lookup_failed')).toHaveLength(1);
    // Every expired request asked Slack again (no answer is assumed while it fails).
    expect(slack.calls.length).toBe(6);
    slack.state.fail = null;
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
  });

  it('does not hold a command for a slow lookup: no group now, the cache fills when Slack answers', async () => {
    const { slack, dir } = setup({ S0DBA: ['UIN'] }, ['S0DBA'], { waitMs: 20 });
    let open!: () => void;
    slack.state.gate = new Promise<void>((r) => (open = r));
    expect(await dir.groupsOf('UIN')).toEqual([]);
    open();
    await vi.waitFor(async () => {
      slack.state.gate = new Promise<void>(() => undefined);
      expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    });
    expect(slack.calls).toEqual(['S0DBA']);
  });

  it('refreshes in the background before the TTL, and stops once nobody asked for 3×TTL', async () => {
    vi.useFakeTimers({ now: 5_000_000 });
    const slack = fakeSlack({ S0DBA: ['UIN'] });
    dir = createGroupDirectory({
      groupIds: ['S0DBA'],
      fetchMembers: (g) => slack.fetchMembers(g),
      ttlMs: TTL,
      logger: capturingLogger().logger,
    });
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(slack.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(TTL);
    const refreshed = slack.calls.length;
    expect(refreshed).toBeGreaterThanOrEqual(2);
    // The background refresh kept the list fresh: this request needs no lookup of its own.
    expect(await dir.groupsOf('UIN')).toEqual(['S0DBA']);
    expect(slack.calls.length).toBe(refreshed);
    await vi.advanceTimersByTimeAsync(TTL * 4);
    const idle = slack.calls.length;
    await vi.advanceTimersByTimeAsync(TTL * 4);
    expect(slack.calls.length).toBe(idle);
    dir.stop();
  });
});
