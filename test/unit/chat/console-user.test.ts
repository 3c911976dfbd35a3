/**
 * `gearops console --user`: free text, but never the monitor's own name. The shipped policy gives the role
 * `monitor` (user gearops-monitor) replica.failover on workers, for fencing and automatic failover; a person
 * typing that name must not get those rights.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runConsoleCommand } from '../../../src/console.js';

afterEach(() => vi.restoreAllMocks());

describe('console --user', () => {
  it("refuses the monitor's name before doing anything, saying why", async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    const out: string[] = [];
    const code = await runConsoleCommand(['--user', 'gearops-monitor', '-e', '/run hosts'], {
      env: {},
      out: (s) => void out.push(s),
    });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/gearops-monitor is the name of the bot's own monitor/);
    expect(out).toEqual([]);
  });

  it('takes any other name on to the usual checks', async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    const code = await runConsoleCommand(['--user', 'alice', '-e', '/run hosts'], { env: {}, out: () => undefined });
    // With an empty environment the next check is the job secret: the name itself was not the problem.
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/GEAROPS_JOB_SECRET/);
    expect(err.join('')).not.toMatch(/monitor/);
  });
});
