/** The automatic-failover settings of the policy file: defaults, the shipped file, and refused values. */
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy } from '../../../src/core/policy/index.js';

describe('policy settings for automatic failover', () => {
  it('defaults to off, a one-hour block and three polls', () => {
    expect(parsePolicy('version: 1\n', 'p.yml').settings).toMatchObject({
      autoFailover: false,
      failoverBlockS: 3600,
      failcount: 3,
    });
    expect(parsePolicy('version: 1\nsettings:\n  timeout_s: 10\n', 'p.yml').settings).toMatchObject({
      autoFailover: false,
      failcount: 3,
    });
  });

  it('reads them from the file; the shipped default policy has them documented and off', () => {
    const p = parsePolicy(
      'version: 1\nsettings:\n  auto_failover: true\n  failover_block_s: 600\n  failcount: 5\n',
      'p.yml',
    );
    expect(p.settings).toMatchObject({ autoFailover: true, failoverBlockS: 600, failcount: 5 });
    expect(loadPolicyFile('policies/default.yml').settings).toMatchObject({
      autoFailover: false,
      failoverBlockS: 3600,
      failcount: 3,
    });
  });

  it('refuses a failcount of 0, a negative block and a non-boolean switch, naming the key', () => {
    expect(() => parsePolicy('version: 1\nsettings:\n  failcount: 0\n', 'p.yml')).toThrow(/failcount/);
    expect(() => parsePolicy('version: 1\nsettings:\n  failover_block_s: -1\n', 'p.yml')).toThrow(/failover_block_s/);
    expect(() => parsePolicy('version: 1\nsettings:\n  auto_failover: "yes"\n', 'p.yml')).toThrow(/auto_failover/);
  });
});
