/**
 * `/run server1 ps auxww` on a host where someone runs a client with a
 * password on its command line: the channel sees the process, not the password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';

describe('credentials in /run output', () => {
  let f: Fleet;
  let victim: ChildProcess;
  const PASSWORD = 'Zq7-not-for-chat';
  beforeAll(async () => {
    f = await startFleet({ hosts: ['server1'] });
    // A long-lived process whose argv carries a password, as `mysql -p…` or a backup job would.
    victim = spawn(
      process.execPath,
      [
        '-e',
        'setTimeout(() => {}, 60000)',
        '--',
        'mysqldump',
        `--password=${PASSWORD}`,
        `-p${PASSWORD}`,
        'gearops-redaction-probe',
      ],
      { stdio: 'ignore' },
    );
  });
  afterAll(async () => {
    victim?.kill('SIGKILL');
    await f?.stop();
  });

  it('masks passwords from other command lines before posting', async () => {
    const r = await f.run('/run server1 ps auxww | grep gearops-redaction-probe');
    expect(r.outcome.status, r.text).toBe('ok');
    expect(r.text).toContain('gearops-redaction-probe');
    expect(r.text).toContain('--password=****');
    expect(r.text).toContain('-p****');
    expect(r.text).not.toContain(PASSWORD);
  });
});
