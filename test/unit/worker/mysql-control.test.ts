import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/core/policy/index.js';
import { createSilentLogger } from '../../../src/log.js';
import { createMysqlControlCapability } from '../../../src/worker/capabilities/mysql-control.js';
import type { CapabilityContext } from '../../../src/worker/capability.js';
import type { CredentialsDirectory } from '../../../src/credentials-file.js';
import type { MysqlControlArgs } from '../../../src/core/mysql-control-job.js';

/** A host's own policy, stricter than the bot's: switchover and rejoin for its dba, failover for it and the monitor. */
const policy = parsePolicy(
  `version: 1
roles:
  dba:
    users: [UDBA]
  monitor:
    users: [gearops-monitor]
actions:
  - rule: db1-read
    actions: [replica.status]
    who: everyone
  - rule: db1-switch-dba
    actions: [replica.switchover, replica.rejoin]
    who: [role:dba]
  - rule: db1-failover
    actions: [replica.failover]
    who: [role:dba, role:monitor]
`,
  'db1.yml',
);

// No entry at all: a step the policy allows stops at the login, before any connection (gearops_config).
const credentials: CredentialsDirectory = {
  get: () => {
    throw new Error('no entry');
  },
  has: () => false,
  names: () => [],
};
const cap = createMysqlControlCapability({ host: 'db1', policy, credentials, logger: createSilentLogger() });

const ctx = (args: Record<string, unknown>, userId: string): CapabilityContext<MysqlControlArgs> => ({
  job: {
    v: 1,
    kind: 'job',
    id: 'j',
    ts: Date.now(),
    host: 'db1',
    capability: 'mysql.control',
    // The bot signed role dba for everyone: the worker resolves roles from its own policy and ignores these.
    requester: { userId, channelId: 'C1', roles: ['dba'] },
    args: args as unknown as MysqlControlArgs,
  },
  args: args as unknown as MysqlControlArgs,
  emit: () => undefined,
  signal: new AbortController().signal,
  logger: createSilentLogger(),
});
const step = (op: Record<string, unknown>, serves: string) => ({ port: 3306, credentials: 'prod', serves, ...op });
const allowed = { code: 'gearops_config', message: expect.stringMatching(/no credentials named 'prod'/) };

describe("mysql.control against the worker's own policy", () => {
  it("refuses a step of a switchover to someone who is not this host's dba, naming the rule", async () => {
    await expect(
      cap.handler(ctx(step({ op: 'setReadOnly', on: true }, 'replica.switchover'), 'U1')),
    ).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringMatching(
        /^worker db1 policy: rule `db1-switch-dba` allows replica\.switchover only for role:dba/,
      ),
      data: { host: 'db1', rule: 'db1-switch-dba' },
    });
    await expect(
      cap.handler(ctx(step({ op: 'setReadOnly', on: true }, 'replica.switchover'), 'UDBA')),
    ).rejects.toMatchObject(allowed);
  });

  it('lets anyone replica.status allows read the GTID state, whatever the sequence', async () => {
    await expect(cap.handler(ctx(step({ op: 'gtidState' }, 'replica.switchover'), 'U1'))).rejects.toMatchObject(
      allowed,
    );
  });

  it("lets the monitor fence (replica.failover) where this host's policy says so, and nothing else", async () => {
    await expect(
      cap.handler(ctx(step({ op: 'setReadOnly', on: true, timeoutMs: 2000 }, 'replica.failover'), 'gearops-monitor')),
    ).rejects.toMatchObject(allowed);
    await expect(
      cap.handler(ctx(step({ op: 'detachReplication' }, 'replica.switchover'), 'gearops-monitor')),
    ).rejects.toMatchObject({ code: 'gearops_policy_denied', data: { rule: 'db1-switch-dba' } });
  });

  it('checks the args before the policy: an unknown op or a step no sequence has is a usage error', async () => {
    await expect(
      cap.handler(ctx(step({ op: 'query', sql: 'DROP TABLE t' }, 'replica.failover'), 'UDBA')),
    ).rejects.toMatchObject({
      code: 'gearops_usage',
      message: expect.stringMatching(/op must be one of/),
    });
    await expect(
      cap.handler(ctx(step({ op: 'setReadOnly', on: false }, 'replica.rejoin'), 'UDBA')),
    ).rejects.toMatchObject({
      code: 'gearops_usage',
      message: expect.stringMatching(/setReadOnly\(false\) is no step of replica\.rejoin/),
    });
  });
});

describe('mysql.control under the shipped policies/default.yml on a worker', () => {
  const shipped = createMysqlControlCapability({
    host: 'db1',
    policy: parsePolicy(readFileSync('policies/default.yml', 'utf8'), 'policies/default.yml'),
    credentials,
    logger: createSilentLogger(),
  });
  it('lets the monitor fence (replica.failover) and refuses a person who is no dba, naming dba-changes', async () => {
    await expect(
      shipped.handler(ctx(step({ op: 'setReadOnly', on: true }, 'replica.failover'), 'gearops-monitor')),
    ).rejects.toMatchObject(allowed);
    await expect(
      shipped.handler(ctx(step({ op: 'setReadOnly', on: true }, 'replica.failover'), 'U1')),
    ).rejects.toMatchObject({ code: 'gearops_policy_denied', data: { rule: 'dba-changes' } });
    await expect(
      shipped.handler(ctx(step({ op: 'setReadOnly', on: false }, 'replica.switchover'), 'gearops-monitor')),
    ).rejects.toMatchObject({ code: 'gearops_policy_denied', data: { rule: 'dba-changes' } });
  });
});
