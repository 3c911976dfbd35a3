import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNonceFile } from '../../../src/worker/nonce-file.js';

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
