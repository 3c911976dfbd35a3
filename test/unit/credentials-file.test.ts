import { chmodSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCredentialsFile } from '../../src/credentials-file.js';

describe('credentials file', () => {
  let dir: string;
  const write = (name: string, text: string, mode = 0o600) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    chmodSync(p, mode);
    return p;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gearops-creds-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads user/password entries and defaults files, and keeps the fallback for names it lacks', () => {
    const cnf = write('client.cnf', '[mysqld]\nuser=mysql\n[client]\nuser = watcher\npassword = "s3 cret"\n');
    const p = write('creds.yml', `prod:\n  user: mon\n  password: pw1\nlegacy:\n  defaults_file: ${cnf}\n`);
    const c = loadCredentialsFile(p, { sandbox: { user: 'msandbox', password: 'x' } });
    expect(c.get('prod')).toEqual({ user: 'mon', password: 'pw1' });
    expect(c.get('legacy')).toEqual({ user: 'watcher', password: 's3 cret' });
    expect(c.get('sandbox').user).toBe('msandbox');
    expect(c.names()).toEqual(['legacy', 'prod', 'sandbox']);
    expect(() => c.get('nope')).toThrow(/no credentials named 'nope' in .*creds\.yml/);
  });

  it('refuses a file others can read, naming the path and the fix', () => {
    const p = write('creds.yml', 'prod: { user: a, password: b }\n', 0o644);
    expect(() => loadCredentialsFile(p)).toThrow(
      new RegExp(`${p} is readable by others \\(mode 644\\).*chmod 600 ${p}`),
    );
    const cnf = write('client.cnf', '[client]\nuser=a\npassword=b\n', 0o640);
    const q = write('ok.yml', `x: { defaults_file: ${cnf} }\n`);
    expect(() => loadCredentialsFile(q)).toThrow(
      /defaults_file of credentials entry 'x', .*client\.cnf is readable by others/,
    );
  });

  it('refuses unknown keys and bad names rather than guessing', () => {
    expect(() => loadCredentialsFile(write('a.yml', 'prod: { user: a, pasword: b }\n'))).toThrow(
      /credentials file .*prod/,
    );
    expect(() => loadCredentialsFile(write('b.yml', '"bad name": { user: a, password: b }\n'))).toThrow(/entry names/);
  });

  it('reads the file again for a name it lacks once it changed, with the same checks', () => {
    const p = write('creds.yml', 'prod: { user: a, password: b }\n');
    const c = loadCredentialsFile(p);
    expect(c.has('hand')).toBe(false);
    // An entry added later (the demo's `demo cluster`) is found without a restart; the old ones stay.
    writeFileSync(p, 'prod: { user: a, password: b }\nhand: { user: w, password: pw }\n');
    chmodSync(p, 0o600);
    utimesSync(p, new Date(), new Date(Date.now() + 5000));
    expect(c.get('hand')).toEqual({ user: 'w', password: 'pw' });
    expect(c.get('prod').user).toBe('a');
    // Opened to others meanwhile: refused as at start-up, the path and the fix named.
    writeFileSync(p, 'prod: { user: a, password: b }\nlate: { user: x, password: y }\n');
    chmodSync(p, 0o644);
    utimesSync(p, new Date(), new Date(Date.now() + 10_000));
    expect(() => c.get('late')).toThrow(/is readable by others \(mode 644\).*chmod 600/);
    expect(c.has('late')).toBe(false);
  });
});
