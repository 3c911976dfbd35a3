import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const GUARD = fileURLToPath(new URL('../../src/process-guard.ts', import.meta.url));

describe('process guard', () => {
  it('logs an unhandled rejection with its stack, and the process goes on serving', () => {
    // A child process: Node's default for an unhandled rejection is to end it, which is what the guard prevents.
    const script = `
      import { pino } from 'pino';
      import { guardUnhandledRejections } from ${JSON.stringify(GUARD)};
      guardUnhandledRejections(pino({ level: 'info' }, pino.destination(1)));
      Promise.reject(new Error('Slack chat.postMessage failed: not_in_channel'));
      setTimeout(() => process.stdout.write('still serving\\n'), 50);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stdout.split('\n').find((l) => l.includes('unhandled_rejection'))!);
    expect(line.err.message).toBe('Slack chat.postMessage failed: not_in_channel');
    expect(line.err.stack).toMatch(/at /);
    expect(r.stdout).toContain('still serving');
  });
});
