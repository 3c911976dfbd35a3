import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNonceFile, createServerInstances } from '../../../src/worker/nonce-file.js';

describe("the worker's record of jobs taken (state-dir/seen-jobs)", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'gearops-nonce-test-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('reads back what was appended, drops expired and malformed lines when it starts, and rewrites atomically', () => {
    const d = join(dir(), 'state');
    const a = createNonceFile(d);
    expect(a.load(1000)).toEqual([]);
    a.append({ id: 'old', expires: 1500, binding: 's|H:1' });
    a.append({ id: 'live', expires: 9000, binding: 's|H:2' });
    writeFileSync(a.path, `${readFileSync(a.path, 'utf8')}garbage line\n`, { flag: 'w' });
    const b = createNonceFile(d);
    expect(b.load(2000)).toEqual([{ id: 'live', expires: 9000, binding: 's|H:2' }]);
    expect(readFileSync(b.path, 'utf8')).toBe('9000 live s|H:2\n');
    b.rewrite([]);
    expect(readFileSync(b.path, 'utf8')).toBe('');
  });

  it('keeps one entry per line whatever the id holds', () => {
    const a = createNonceFile(join(dir(), 's'));
    a.load(0);
    a.append({ id: 'a b\nc', expires: 5, binding: 'x y' });
    expect(readFileSync(a.path, 'utf8')).toBe('5 a_b_c x_y\n');
  });

  it('says so when the folder cannot be made', () => {
    const f = join(dir(), 'file');
    writeFileSync(f, '');
    expect(() => createNonceFile(join(f, 'state'))).toThrow(/ENOTDIR|EEXIST/);
  });
});

describe("the worker's record of job-server instances (state-dir/job-servers)", () => {
  it('names an instance by pid and first sighting, keeps it across restarts, and agrees across connections', async () => {
    const d = join(mkdtempSync(join(tmpdir(), 'gearops-instances-test-')), 'state');
    try {
      let t = 100;
      const pids: Record<string, number> = { 'g1:4730': 11, 'g2:4730': 22 };
      const book = () => createServerInstances({ dir: d, getpid: async (s) => pids[s]!, now: () => t++ });
      const a = book();
      // Four connections identifying at once get one name.
      const names = await Promise.all([1, 2, 3, 4].map(() => a.identify('g1:4730')));
      expect(new Set(names)).toEqual(new Set(['11@100']));
      expect(await a.identify('g2:4730')).toBe('22@101');
      expect(readFileSync(join(d, 'job-servers'), 'utf8')).toBe('g1:4730 11 100\ng2:4730 22 101\n');
      expect(statSync(join(d, 'job-servers')).mode & 0o777).toBe(0o600);
      // A restarted worker reads the same names back; a restarted gearmand (new pid) gets a new one.
      pids['g1:4730'] = 12;
      const b = book();
      expect(await b.identify('g2:4730')).toBe('22@101');
      expect(await b.identify('g1:4730')).toBe('12@102');
    } finally {
      rmSync(join(d, '..'), { recursive: true, force: true });
    }
  });
});
