/**
 * A real worker process decides with its own policy file, on its own filesystem: roles come from its `roles:`
 * (not from the roles the bot signs), path arguments are resolved to real files under the rule's prefix, and
 * output is redacted before it leaves the host (the dispatcher here sees what any relay on the job port would).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createGearmanDispatcher } from '../../src/gearman/dispatcher.js';
import type { Dispatcher } from '../../src/core/ports/dispatcher.js';
import type { Requester } from '../../src/core/payload.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import { freePort, startGearmand, type GearmandHandle } from '../helpers/gearmand.js';

const exec = promisify(execFile);
const logger = createSilentLogger();
const secret = randomBytes(32).toString('hex');
const bob: Requester = { userId: 'UBOB', channelId: 'C1', roles: ['dba'], groups: [] };
const alice: Requester = { userId: 'UALICE', channelId: 'C1', roles: [], groups: [] };
const carol: Requester = { userId: 'UCAROL', channelId: 'C1', roles: [], groups: ['SDBAS'] };

describe('a worker process with its own policy and filesystem, behind a real gearmand', () => {
  let g: GearmandHandle;
  let w: WorkerProcess;
  let d: Dispatcher;
  let dir: string;
  let logs: string;

  beforeAll(async () => {
    g = await startGearmand();
    dir = mkdtempSync(join(tmpdir(), 'gearops-own-policy-'));
    logs = join(dir, 'logs');
    mkdirSync(join(logs, 'sub'), { recursive: true });
    const policy = join(dir, 'policy.yml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'roles:',
        '  dba: { users: [UALICE], groups: [SDBAS] }',
        'commands:',
        '  - rule: dba-diag',
        '    who: [role:dba]',
        '    allow: [hostname]',
        '  - rule: logs',
        `    allow: ["cat <path:${logs}/>"]`,
        'actions:',
        '  - rule: dba-changes',
        '    actions: [replica.install, replica.remove, replica.diagnose]',
        '    who: [role:dba]',
        '',
      ].join('\n'),
    );
    w = await startWorkerProcess({ host: 'server1', gearman: g.address, secret, policy });
    d = createGearmanDispatcher({ servers: [g.address], secret, logger, preset: 'fast' });
  });

  afterAll(async () => {
    await d?.close();
    await w?.stop();
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ignores the roles the bot signs: UBOB signed as dba is refused, UALICE (dba in its file) is not', async () => {
    const refused = await d.submit({ capability: 'run', host: 'server1', args: { line: 'hostname' }, requester: bob });
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringContaining('rule `dba-diag` is for role:dba'),
    });
    const ran = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'hostname' },
      requester: alice,
    });
    expect(ran.ok, JSON.stringify(ran.error)).toBe(true);
    expect(ran.value?.exitCode).toBe(0);
  });

  it('maps the user-group ids the bot signs through its own roles', async () => {
    const ran = await d.submit({ capability: 'run', host: 'server1', args: { line: 'hostname' }, requester: carol });
    expect(ran.ok, JSON.stringify(ran.error)).toBe(true);
    const other = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'hostname' },
      requester: { ...carol, groups: ['SOTHER'], roles: ['dba'] },
    });
    expect(other.error?.message).toContain('rule `dba-diag`');
  });

  it('refuses a dba-only install for UBOB signed as dba, and lets UALICE check', async () => {
    const hosts = await d.hosts();
    expect(hosts.find((h) => h.host === 'server1')?.capabilities).toContain('sandbox.install');
    const install = await d.submit({
      capability: 'sandbox.install',
      host: 'server1',
      args: { name: 'bobs', cluster: 'bobs', port: await freePort(), serverId: 1, role: 'master' },
      requester: bob,
    });
    expect(install.ok).toBe(false);
    expect(install.error).toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringContaining('rule `dba-changes` allows replica.install only for role:dba'),
    });
    const check = await d.submit({ capability: 'sandbox.check', host: 'server1', args: {}, requester: alice });
    expect(check.ok, JSON.stringify(check.error)).toBe(true);
  });

  it('resolves path arguments on the host: links out of the prefix, FIFOs, directories and /proc are refused', async () => {
    writeFileSync(join(logs, 'error.log'), 'InnoDB: started\n');
    symlinkSync('/etc/shadow', join(logs, 'shadow.log'));
    symlinkSync(`/proc/${w.child.pid}/environ`, join(logs, 'environ.log'));
    symlinkSync('/proc/self/environ', join(logs, 'self.log'));
    symlinkSync(join(logs, 'sub'), join(logs, 'dir.log'));
    await exec('mkfifo', [join(logs, 'fifo.log')]);
    const cases: Array<[string, RegExp]> = [
      ['shadow.log', /resolves to \/etc\/shadow, which is not a file under/],
      ['environ.log', /resolves to \/proc\/\d+\/environ: \/proc, \/sys and \/dev are never read/],
      ['self.log', /resolves to \/proc\/\d+\/environ: \/proc/],
      ['fifo.log', /is a FIFO, not a regular file/],
      ['dir.log', /is a directory, not a regular file/],
      ['missing.log', /cannot be opened \(ENOENT\)/],
    ];
    for (const [file, why] of cases) {
      const out: string[] = [];
      const r = await d.submit({
        capability: 'run',
        host: 'server1',
        args: { line: `cat ${join(logs, file)}` },
        requester: bob,
        onEvent: (e) => e.type === 'output' && out.push(e.text),
      });
      expect(r.ok, file).toBe(false);
      expect(r.error?.code, file).toBe('gearops_policy_denied');
      expect(r.error?.message, file).toContain('worker server1 policy: rule `logs`: ');
      expect(r.error?.message, file).toMatch(why);
      expect(out, file).toEqual([]);
    }
    // A link that stays under the prefix is a file like any other.
    symlinkSync(join(logs, 'error.log'), join(logs, 'current.log'));
    const ok = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: `cat ${join(logs, 'current.log')}` },
      requester: bob,
    });
    expect(ok.ok, JSON.stringify(ok.error)).toBe(true);
    expect(ok.value?.output).toBe('InnoDB: started\n');
  });

  it('redacts output on the worker, before it is streamed or returned', async () => {
    const lines = [
      'root 1 mysql -uroot -pW0rker-side-1 shop',
      'GEAROPS_JOB_SECRET=W0rker-side-2',
      'mysqlsh --uri admin:W0rker-side-3@db1',
    ];
    writeFileSync(join(logs, 'ps.log'), `${lines.join('\n')}\n`);
    const out: string[] = [];
    const r = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: `cat ${join(logs, 'ps.log')}` },
      requester: bob,
      onEvent: (e) => e.type === 'output' && out.push(e.text),
    });
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    expect(out.join('')).toBe(r.value?.output);
    expect(r.value?.output).toContain('-p**** shop');
    expect(r.value?.output).toContain('admin:****@db1');
    expect(`${out.join('')}${JSON.stringify(r)}`).not.toContain('W0rker-side');
  });
});
