import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createReloadablePolicy } from '../../../src/core/policy/reloadable.js';

const dir = mkdtempSync(join(tmpdir(), 'gearops-policy-reload-'));
const file = join(dir, 'policy.yml');
const principal = { userId: 'U1', channelId: 'C1', roles: [] as string[] };
const rules = (allow: string, groups = '') =>
  `version: 1\n${groups ? `roles:\n  dba: { groups: [${groups}] }\n` : ''}commands:\n  - rule: diag\n    allow:\n      - ${allow}\n`;

describe('createReloadablePolicy', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers with the new rules after a reload, through the same object', () => {
    writeFileSync(file, rules('uptime'));
    const r = createReloadablePolicy(file);
    const held = r.policy;
    expect(held.checkRun({ host: 'db1', principal, line: 'hostname' }).allow).toBe(false);
    writeFileSync(file, rules('hostname', 'S0DBA'));
    expect(r.reload()).toEqual({ source: file, groupsChanged: true });
    expect(held.checkRun({ host: 'db1', principal, line: 'hostname' }).allow).toBe(true);
    expect(held.checkRun({ host: 'db1', principal, line: 'uptime' }).allow).toBe(false);
    expect(held.groupIds()).toEqual(['S0DBA']);
    expect(held.programs()).toEqual(['hostname']);
  });

  it('keeps the current rules when the file no longer loads, and says why with the line', () => {
    writeFileSync(file, rules('uptime'));
    const r = createReloadablePolicy(file);
    writeFileSync(file, `${rules('uptime')}  - rule: bad\n    allwo: [x]\n`);
    expect(() => r.reload()).toThrow(/policy\.yml:\d+/);
    expect(r.policy.checkRun({ host: 'db1', principal, line: 'uptime' }).allow).toBe(true);
    rmSync(file);
    expect(() => r.reload()).toThrow(/cannot read policy file/);
    expect(r.policy.checkRun({ host: 'db1', principal, line: 'uptime' }).allow).toBe(true);
  });
});
