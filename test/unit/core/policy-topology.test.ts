import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy } from '../../../src/core/policy/index.js';

const ACTIONS = ['replica.switchover', 'replica.failover', 'replica.rejoin'] as const;

describe('policy: topology-change actions and settings', () => {
  it('default.yml allows switchover, failover and rejoin to dba only, naming the rule when it denies', () => {
    const text = `version: 1
roles:
  dba:
    users: [U0DBA]
actions:
  - rule: dba-changes
    actions: [replica.switchover, replica.failover, replica.rejoin]
    who: [role:dba]
`;
    const shipped = loadPolicyFile('policies/default.yml');
    const mine = parsePolicy(text, 'p.yml');
    for (const action of ACTIONS) {
      const nobody = { userId: 'U1', channelId: 'C1', roles: [] };
      const denied = shipped.checkAction({ action, principal: nobody });
      expect(denied.allow, action).toBe(false);
      expect(denied.reason).toContain('dba-changes');
      const dba = { userId: 'U0DBA', channelId: 'C1', roles: mine.rolesFor('U0DBA') };
      expect(mine.checkAction({ action, principal: dba })).toMatchObject({ allow: true, rule: 'dba-changes' });
      expect(shipped.checkAction({ action, principal: { ...nobody, roles: ['dba'] } }).allow).toBe(true);
    }
  });

  it('switchover_timeout_s defaults to 10 and is checked', () => {
    expect(loadPolicyFile('policies/default.yml').settings.switchoverTimeoutS).toBe(10);
    expect(parsePolicy('version: 1\nsettings:\n  switchover_timeout_s: 3\n', 'p.yml').settings.switchoverTimeoutS).toBe(
      3,
    );
    expect(() => parsePolicy('version: 1\nsettings:\n  switchover_timeout_s: 0\n', 'p.yml')).toThrow(
      /switchover_timeout_s/,
    );
  });
});
