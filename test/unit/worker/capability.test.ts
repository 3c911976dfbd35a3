import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../src/core/policy/index.js';
import { createSilentLogger } from '../../../src/log.js';
import {
  requireAction,
  SANDBOX_ACTIONS,
  type Capability,
  type CapabilityContext,
} from '../../../src/worker/capability.js';

const policy = loadPolicyFile('policies/default.yml');

/** A sandbox capability that records whether it ran, wrapped as the worker wraps it. */
function guarded(name: string) {
  const ran: unknown[] = [];
  const inner: Capability<{ undo?: unknown }> = { name, handler: async (ctx) => void ran.push(ctx.args) };
  return { ran, cap: requireAction(inner, { host: 'db1', policy }, SANDBOX_ACTIONS[name]!) };
}

function ctx(args: Record<string, unknown>, roles: string[]): CapabilityContext<{ undo?: unknown }> {
  return {
    job: {
      v: 1,
      kind: 'job',
      id: 'j',
      ts: Date.now(),
      host: 'db1',
      capability: 'x',
      requester: { userId: 'U1', channelId: 'C1', roles },
      args,
    },
    args,
    emit: () => undefined,
    signal: new AbortController().signal,
    logger: createSilentLogger(),
  };
}

describe("sandbox jobs against the worker's own policy (policies/default.yml)", () => {
  it('lets everyone check (it is /replica diagnose) and only the dba role install or remove', async () => {
    for (const [name, args] of [
      ['sandbox.install', { name: 'c1' }],
      ['sandbox.remove', { name: 'c1' }],
      ['sandbox.remove', { name: 'c1', undo: 'install' }],
    ] as const) {
      const g = guarded(name);
      await expect(g.cap.handler(ctx(args, []))).rejects.toMatchObject({
        code: 'gearops_policy_denied',
        message: expect.stringMatching(/^worker db1 policy: /),
      });
      expect(g.ran, name).toHaveLength(0);
      await g.cap.handler(ctx(args, ['dba']));
      expect(g.ran, name).toHaveLength(1);
    }
    const check = guarded('sandbox.check');
    await check.cap.handler(ctx({}, []));
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
