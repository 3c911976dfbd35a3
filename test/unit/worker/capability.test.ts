import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../../src/core/policy/index.js';
import { createSilentLogger } from '../../../src/log.js';
import {
  requireAction,
  SANDBOX_ACTIONS,
  type Capability,
  type CapabilityContext,
} from '../../../src/worker/capability.js';

// The shipped default, with a DBA filled in (as its comment asks): UALICE is the host owner's dba, UBOB is not.
const policy = parsePolicy(
  readFileSync('policies/default.yml', 'utf8').replace(
    /dba:\n {4}users: \[\]\n {4}groups: \[\]/,
    'dba:\n    users: [UALICE]\n    groups: [SDBAS]',
  ),
  'policies/default.yml',
);

/** A sandbox capability that records whether it ran, wrapped as the worker wraps it. */
function guarded(name: string) {
  const ran: unknown[] = [];
  const inner: Capability<{ undo?: unknown }> = { name, handler: async (ctx) => void ran.push(ctx.args) };
  return { ran, cap: requireAction(inner, { host: 'db1', policy }, SANDBOX_ACTIONS[name]!) };
}

function ctx(
  args: Record<string, unknown>,
  userId: string,
  signed: { roles?: string[]; groups?: string[] } = {},
): CapabilityContext<{ undo?: unknown }> {
  return {
    job: {
      v: 1,
      kind: 'job',
      id: 'j',
      ts: Date.now(),
      host: 'db1',
      capability: 'x',
      requester: { userId, channelId: 'C1', roles: signed.roles ?? [], groups: signed.groups },
      args,
    },
    args,
    emit: () => undefined,
    signal: new AbortController().signal,
    logger: createSilentLogger(),
  };
}

describe("sandbox jobs against the worker's own policy (policies/default.yml)", () => {
  it("lets everyone check (it is /replica diagnose) and only the worker's own dbas install or remove", async () => {
    for (const [name, args] of [
      ['sandbox.install', { name: 'c1' }],
      ['sandbox.remove', { name: 'c1' }],
      ['sandbox.remove', { name: 'c1', undo: 'install' }],
    ] as const) {
      const g = guarded(name);
      // UBOB is no dba here, whatever roles the bot signed: the worker resolves roles from its own policy.
      for (const signed of [{}, { roles: ['dba'] }, { groups: ['SOTHER'] }])
        await expect(g.cap.handler(ctx(args, 'UBOB', signed))).rejects.toMatchObject({
          code: 'gearops_policy_denied',
          message: expect.stringMatching(
            /^worker db1 policy: rule `dba-changes` allows replica\.\w+ only for role:dba/,
          ),
          data: { host: 'db1', rule: 'dba-changes' },
        });
      expect(g.ran, name).toHaveLength(0);
      await g.cap.handler(ctx(args, 'UALICE'));
      expect(g.ran, name).toHaveLength(1);
      // A member of the user group the worker's dba role names, as the bot looked it up and signed it.
      await g.cap.handler(ctx(args, 'UCAROL', { groups: ['SDBAS'] }));
      expect(g.ran, name).toHaveLength(2);
    }
    const check = guarded('sandbox.check');
    await check.cap.handler(ctx({}, 'UBOB'));
    expect(check.ran).toHaveLength(1);
  });

  it('names an action for every sandbox capability the worker registers', () => {
    expect(Object.keys(SANDBOX_ACTIONS).sort()).toEqual([
      'sandbox.cancel',
      'sandbox.check',
      'sandbox.install',
      'sandbox.remove',
    ]);
    expect(SANDBOX_ACTIONS['sandbox.remove']!({ undo: 'install' })).toEqual(['replica.install']);
    expect(SANDBOX_ACTIONS['sandbox.remove']!({})).toEqual(['replica.remove']);
  });
});
