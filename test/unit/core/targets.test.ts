import { describe, expect, it } from 'vitest';
import {
  describeGroups,
  isSingleHost,
  resolveTargets,
  workerGroups,
  type TargetContext,
} from '../../../src/core/targets.js';

const live = ['db1', 'db2', 'db3', 'db10', 'db11', 'web1'];
const ctx = (over: Partial<TargetContext> = {}): TargetContext => ({
  live,
  policyGroups: { replicas: ['db[2-9]', 'db1?'], web: ['web*'], loop: ['@loop'], nested: ['@web,db1'] },
  workerGroups: new Map([
    ['ams', ['db1', 'web1']],
    ['replicas', ['web1']],
  ]),
  ...over,
});

describe('resolveTargets', () => {
  it('resolves a host, a list, a glob, a range and all', () => {
    expect(resolveTargets('db1', ctx()).hosts).toEqual(['db1']);
    expect(resolveTargets('db1,db3', ctx()).hosts).toEqual(['db1', 'db3']);
    expect(resolveTargets('db*', ctx()).hosts).toEqual(['db1', 'db2', 'db3', 'db10', 'db11']);
    expect(resolveTargets('db?', ctx()).hosts).toEqual(['db1', 'db2', 'db3']);
    expect(resolveTargets('db[1-2]', ctx()).hosts).toEqual(['db1', 'db2']);
    expect(resolveTargets('all', ctx()).hosts).toEqual(live);
  });

  it('keeps named hosts that are not live, and says which', () => {
    const r = resolveTargets('db[3-5]', ctx());
    expect(r.hosts).toEqual(['db3', 'db4', 'db5']);
    expect(r.notLive).toEqual(['db4', 'db5']);
    // A glob only ever matches live hosts.
    expect(resolveTargets('zz*', ctx()).hosts).toEqual([]);
  });

  it('resolves policy groups (ranges, globs, nested groups) and worker groups', () => {
    const r = resolveTargets('@replicas', ctx());
    expect(r.hosts).toEqual(['db2', 'db3', 'db4', 'db5', 'db6', 'db7', 'db8', 'db9', 'db10', 'db11']);
    expect(resolveTargets('@nested', ctx()).hosts).toEqual(['db1', 'web1']);
    expect(resolveTargets('@ams', ctx()).hosts).toEqual(['db1', 'web1']);
    expect(resolveTargets('@ams,db2', ctx()).hosts).toEqual(['db1', 'db2', 'web1']);
  });

  it('lets the policy win when a worker claims a group the policy defines', () => {
    // web1 advertises group.replicas, but the policy defines replicas without it.
    expect(resolveTargets('@replicas', ctx()).hosts).not.toContain('web1');
  });

  it('refuses unknown groups, cycles, prototype names and bad characters', () => {
    expect(() => resolveTargets('@nope', ctx())).toThrow(/no group @nope: groups are @ams, @loop/);
    expect(() => resolveTargets('@loop', ctx())).toThrow(/contains itself/);
    expect(() => resolveTargets('@constructor', ctx())).toThrow(/no group @constructor/);
    expect(() => resolveTargets('@__proto__', ctx())).toThrow(/not a group name/);
    expect(() => resolveTargets('db1;rm', ctx())).toThrow(/not a target/);
    expect(() => resolveTargets('db$(x)', ctx())).toThrow(/not a target/);
    expect(() => resolveTargets('-x[1-2]', ctx())).toThrow(/not a host name/);
  });

  it('tells single hosts from targets', () => {
    expect(isSingleHost('server1')).toBe(true);
    for (const w of ['all', 'db*', 'db1,db2', 'db[1-2]', '@g']) expect(isSingleHost(w)).toBe(false);
  });
});

describe('groups', () => {
  it('reads worker groups from their marker functions', () => {
    const g = workerGroups([
      { host: 'db1', capabilities: ['group.ams', 'group.replicas', 'run'], servers: [] },
      { host: 'db2', capabilities: ['group.ams', 'run'], servers: [] },
    ]);
    expect([...g]).toEqual([
      ['ams', ['db1', 'db2']],
      ['replicas', ['db1']],
    ]);
  });

  it('describes every group with its live members', () => {
    const rows = describeGroups(ctx({ policyGroups: { replicas: ['db[2-4]'] } }));
    expect(rows).toEqual([
      { group: '@replicas', source: 'policy', members: 'db[2-3]; not live: db4' },
      { group: '@ams', source: 'workers', members: 'db1,web1' },
    ]);
  });
});
