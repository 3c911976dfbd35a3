import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/core/capabilities.js';
import { defineCapability, type CapabilityContext } from '../../../src/worker/capability.js';
import { createSilentLogger } from '../../../src/log.js';

const install = { name: 'demo', cluster: 'demo', port: 24000, serverId: 1, role: 'master' };

describe('the capability contract', () => {
  it('refuses sandbox args that do not fit, naming what is wrong', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['sandbox.install', { ...install, name: '../etc' }, /^sandbox name must be/],
      ['sandbox.install', { ...install, cluster: 'a b' }, /^cluster name must be/],
      ['sandbox.install', { ...install, port: 80 }, /^port must be 1024\.\.65535$/],
      ['sandbox.install', { ...install, serverId: 0 }, /^serverId must be a positive whole number$/],
      ['sandbox.install', { ...install, role: 'primary' }, /^role must be master or replica$/],
      ['sandbox.install', { ...install, role: 'replica' }, /^a replica needs master \{ address, port \}$/],
      ['sandbox.install', { ...install, role: 'replica', master: { address: "x'; DROP", port: 1 } }, /replica needs/],
      ['sandbox.install', { ...install, token: 'a b' }, /^token must be/],
      ['sandbox.install', null, /^sandbox name must be/],
      ['sandbox.remove', { name: 'x/../y' }, /^sandbox name must be/],
      ['sandbox.cancel', { name: 'demo' }, /^token must be/],
      ['mysql.status', { port: 3306, sql: 'DROP TABLE t' }, /^mysql\.status: unknown argument sql$/],
      ['mysql.status', { port: 0 }, /^mysql\.status: port must be/],
    ];
    for (const [name, args, why] of cases)
      expect(() => parseArgs(name as 'sandbox.install', args), JSON.stringify(args)).toThrow(why);
  });

  it('passes args that fit, with what the worker ignores dropped', () => {
    expect(parseArgs('sandbox.install', { ...install, secrets: 7, extra: 1 })).toEqual(install);
    expect(parseArgs('sandbox.check', { ports: [24000, 'x', 70000], version: 10 })).toEqual({ ports: [24000] });
    expect(parseArgs('sandbox.remove', { name: 'demo', undo: 'install' })).toEqual({ name: 'demo', undo: 'install' });
  });

  it('runs a worker handler only with args that fit its schema', async () => {
    const seen: unknown[] = [];
    const cap = defineCapability('sandbox.remove', async (ctx) => {
      seen.push(ctx.args);
      return { name: ctx.args.name, removed: true as const };
    });
    const ctx = (args: unknown) =>
      ({ args, emit: () => undefined, logger: createSilentLogger() }) as unknown as CapabilityContext<never>;
    await expect(cap.handler(ctx({ name: '../../etc' }))).rejects.toMatchObject({ code: 'gearops_usage' });
    expect(seen).toEqual([]);
    await expect(cap.handler(ctx({ name: 'demo' }))).resolves.toEqual({ name: 'demo', removed: true });
    expect(seen).toEqual([{ name: 'demo' }]);
  });
});
