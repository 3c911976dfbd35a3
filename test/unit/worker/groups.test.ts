import { afterEach, describe, expect, it, vi } from 'vitest';
import { runWorkerCommand } from '../../../src/worker/cli.js';
import { groupMarker } from '../../../src/worker/capabilities/group.js';
import { functionName, parseFunctionName } from '../../../src/gearman/names.js';
import { createSilentLogger } from '../../../src/log.js';

describe('worker groups', () => {
  afterEach(() => vi.restoreAllMocks());

  it('refuses a bad --groups name before registering anything', async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err.push(String(s));
      return true;
    });
    const code = await runWorkerCommand(
      ['--host', 'db1', '--gearman', '127.0.0.1:9', '--groups', 'replicas,Bad!', '--policy', 'policies/demo.yml'],
      { env: { GEAROPS_JOB_SECRET: 'x'.repeat(32) }, logger: createSilentLogger() },
    );
    expect(code).toBe(2);
    expect(err.join('')).toContain('--groups: Bad! is not a group name');
    const named = await runWorkerCommand(
      ['--host', 'all', '--gearman', '127.0.0.1:9', '--policy', 'policies/demo.yml'],
      {
        env: { GEAROPS_JOB_SECRET: 'x'.repeat(32) },
        logger: createSilentLogger(),
      },
    );
    expect(named).toBe(2);
    expect(err.join('')).toContain('--host all is reserved');
  });

  it('advertises a group as a marker function that runs nothing', async () => {
    const m = groupMarker('eu-west');
    expect(functionName(m.name, 'db1')).toBe('group.eu-west@db1');
    expect(parseFunctionName('group.eu-west@db1')).toEqual({ capability: 'group.eu-west', host: 'db1' });
    await expect(m.handler({} as never)).rejects.toThrow(/only says this host is in group @eu-west; it runs nothing/);
  });
});
