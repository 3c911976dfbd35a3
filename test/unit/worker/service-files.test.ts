import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The [Service] settings of a unit file, continuation lines joined; repeated keys keep every value. */
function serviceSettings(file: string): Map<string, string[]> {
  const text = readFileSync(file, 'utf8').replace(/\\\n\s*/g, ' ');
  const out = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line.trim());
    if (header) section = header[1]!;
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (section === 'Service' && kv) out.set(kv[1]!, [...(out.get(kv[1]!) ?? []), kv[2]!]);
  }
  return out;
}

const one = (s: Map<string, string[]>, key: string) => s.get(key)?.join(' ');

describe('the shipped systemd units', () => {
  const worker = serviceSettings('scripts/systemd/gearops-worker.service');
  const bot = serviceSettings('scripts/systemd/gearops-bot.service');

  it('run the worker hardened as an unprivileged user, writable only where the worker writes', () => {
    expect(one(worker, 'User')).toMatch(/^\w+$/);
    expect(one(worker, 'User')).not.toBe('root');
    expect(one(worker, 'NoNewPrivileges')).toBe('yes');
    expect(one(worker, 'ProtectSystem')).toBe('strict');
    expect(one(worker, 'PrivateTmp')).toBe('yes');
    const exec = one(worker, 'ExecStart')!;
    const dirOf = (flag: string) => new RegExp(`${flag} (\\S+)`).exec(exec)?.[1];
    const writable = one(worker, 'ReadWritePaths')!.split(/\s+/);
    // The folders the worker is told to write to are exactly the ones the unit leaves writable.
    expect(writable.sort()).toEqual([dirOf('--sandbox-dir'), dirOf('--state-dir')].sort());
    expect(exec).toMatch(/ worker --host \S+ /);
    expect(one(worker, 'EnvironmentFile')).toBe('/etc/gearops/worker.env');
    // Sandboxes outlive a worker restart; SIGHUP reloads the policy.
    expect(one(worker, 'KillMode')).toBe('process');
    expect(one(worker, 'ExecReload')).toContain('-HUP');
  });

  it('run the bot as an unprivileged user on a read-only system', () => {
    expect(one(bot, 'User')).not.toBe('root');
    expect(one(bot, 'NoNewPrivileges')).toBe('yes');
    expect(one(bot, 'ProtectSystem')).toBe('strict');
    expect(one(bot, 'ExecStart')).toMatch(/ bot$/);
    expect(one(bot, 'ExecReload')).toContain('-HUP');
  });

  it('give every variable the worker unit uses in the example environment file', () => {
    const env = readFileSync('scripts/systemd/worker.env.example', 'utf8');
    const used = [...one(worker, 'ExecStart')!.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    for (const v of ['GEAROPS_JOB_SECRET', 'GEAROPS_GEARMAN', ...used]) expect(env).toMatch(new RegExp(`^${v}=`, 'm'));
  });

  it('pass systemd-analyze verify where systemd is installed', (ctx) => {
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    } catch {
      ctx.skip('systemd-analyze is not installed here');
    }
    // verify checks that ExecStart's binary exists: point it at one that does.
    const dir = mkdtempSync(join(tmpdir(), 'gearops-units-'));
    for (const name of ['gearops-worker.service', 'gearops-bot.service']) {
      const text = readFileSync(`scripts/systemd/${name}`, 'utf8').replaceAll('/usr/local/bin/gearops', '/bin/true');
      writeFileSync(join(dir, name), text);
    }
    const out = execFileSync(
      'systemd-analyze',
      ['verify', `${dir}/gearops-worker.service`, `${dir}/gearops-bot.service`],
      { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    rmSync(dir, { recursive: true, force: true });
    expect(out).toBe('');
  });
});
