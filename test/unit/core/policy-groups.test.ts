import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/core/policy/index.js';

const base = `version: 1
commands:
  - rule: diagnostics
    allow: [uptime]
  - rule: small
    allow: [hostname]
    max_hosts: 3
`;

describe('policy groups and max_hosts', () => {
  it('reads groups and gives each rule its max_hosts (the rule own, else the settings, else 100)', () => {
    const p = parsePolicy(`${base}groups:\n  replicas: ["db[2-9]", "db1?"]\n`, 'p.yml');
    expect(p.hostGroups?.()).toEqual({ replicas: ['db[2-9]', 'db1?'] });
    const pr = { userId: 'U1', channelId: 'C1', roles: [] };
    expect(p.checkRun({ host: 'db1', principal: pr, line: 'uptime' }).maxHosts).toBe(100);
    expect(p.checkRun({ host: 'db1', principal: pr, line: 'hostname' }).maxHosts).toBe(3);
    const q = parsePolicy(`${base}settings:\n  max_hosts: 7\n`, 'p.yml');
    expect(q.checkRun({ host: 'db1', principal: pr, line: 'uptime' }).maxHosts).toBe(7);
  });

  it('stops at load on a bad group, a bad group name, an unknown key or a bad max_hosts, naming the line', () => {
    expect(() => parsePolicy(`${base}groups:\n  replicas: ["db[3-1]"]\n`, 'p.yml')).toThrow(
      /p\.yml:9: groups\.replicas: .*goes down/,
    );
    expect(() => parsePolicy(`${base}groups:\n  Replicas: ["db1"]\n`, 'p.yml')).toThrow(/p\.yml:9: groups\.Replicas/);
    expect(() => parsePolicy(`${base}groups:\n  r: ["db1;x"]\n`, 'p.yml')).toThrow(/expected host names/);
    expect(() => parsePolicy(`${base}groups:\n  r: []\n`, 'p.yml')).toThrow(/p\.yml/);
    expect(() => parsePolicy(`${base}settings:\n  max_host: 3\n`, 'p.yml')).toThrow(/unknown key \(max_host\)/);
    expect(() => parsePolicy(`${base}settings:\n  max_hosts: 0\n`, 'p.yml')).toThrow(/max_hosts/);
  });
});
