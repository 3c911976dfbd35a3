import { describe, expect, it } from 'vitest';
import {
  compareHosts,
  expandNodeSet,
  expandRange,
  foldNodeSet,
  foldRange,
  MAX_EXPANSION,
} from '../../../src/core/nodeset.js';

describe('expandNodeSet', () => {
  it('expands ranges, lists and single indexes in brackets', () => {
    expect(expandNodeSet('db[1-3,7]')).toEqual(['db1', 'db2', 'db3', 'db7']);
    expect(expandNodeSet('db[1-12]')).toHaveLength(12);
    expect(expandNodeSet('db[5]')).toEqual(['db5']);
    expect(expandNodeSet('db1,db2,db7')).toEqual(['db1', 'db2', 'db7']);
  });

  it('keeps zero padding and steps', () => {
    expect(expandNodeSet('db[01-03]')).toEqual(['db01', 'db02', 'db03']);
    expect(expandNodeSet('db[08-11]')).toEqual(['db08', 'db09', 'db10', 'db11']);
    expect(expandRange('0-10/5')).toEqual(['0', '5', '10']);
    expect(expandNodeSet('n[001-002]')).toEqual(['n001', 'n002']);
  });

  it('expands several brackets as a cartesian product, and sets joined by commas', () => {
    expect(expandNodeSet('r[1-2]-db[1-2]')).toEqual(['r1-db1', 'r1-db2', 'r2-db1', 'r2-db2']);
    expect(expandNodeSet('db[1-2],web[3,5],mon')).toEqual(['db1', 'db2', 'web3', 'web5', 'mon']);
    expect(expandNodeSet('db[1-2]x.example.com')).toEqual(['db1x.example.com', 'db2x.example.com']);
  });

  it('drops duplicates', () => {
    expect(expandNodeSet('db[1-3],db2,db[3-4]')).toEqual(['db1', 'db2', 'db3', 'db4']);
  });

  it('refuses malformed patterns with a reason', () => {
    expect(() => expandNodeSet('db[1-3')).toThrow(/without its `\]`/);
    expect(() => expandNodeSet('db1-3]')).toThrow(/without its `\[`/);
    expect(() => expandNodeSet('db[]')).toThrow(/empty brackets/);
    expect(() => expandNodeSet('db[a-c]')).toThrow(/digits only/);
    expect(() => expandNodeSet('db[3-1]')).toThrow(/goes down/);
    expect(() => expandNodeSet('db[[1]]')).toThrow(/do not nest/);
    expect(() => expandNodeSet('db1,,db2')).toThrow(/empty name/);
    // ClusterShell refuses these too: the ends of a padded range disagree on the width.
    expect(() => expandNodeSet('db[01-010]')).toThrow(/same number of digits/);
    expect(() => expandNodeSet('db[1-0/0]')).toThrow();
  });

  it('refuses a pattern that would expand past the cap, before building it', () => {
    expect(() => expandNodeSet('db[1-99999999]')).toThrow(new RegExp(`more than ${MAX_EXPANSION}`));
    expect(() => expandNodeSet('a[1-200]b[1-200]')).toThrow(/more than/);
    expect(expandNodeSet(`db[1-${MAX_EXPANSION}]`)).toHaveLength(MAX_EXPANSION);
  });
});

describe('foldNodeSet', () => {
  it('folds consecutive indexes into ranges, as ClusterShell writes them', () => {
    expect(foldNodeSet(['db1', 'db2', 'db3', 'db5'])).toBe('db[1-3,5]');
    expect(foldNodeSet(['db2', 'db1'])).toBe('db[1-2]');
    expect(foldNodeSet(['db7'])).toBe('db7');
    expect(foldNodeSet(['db10', 'db9', 'db1', 'db2'])).toBe('db[1-2,9-10]');
    expect(foldNodeSet([])).toBe('');
  });

  it('keeps zero padding, and folds mixed paddings apart', () => {
    expect(foldNodeSet(expandNodeSet('db[01-12]'))).toBe('db[01-12]');
    expect(foldNodeSet(['db01', 'db02', 'db10'])).toBe('db[01-02,10]');
    expect(foldNodeSet(['bar002', 'bar01', 'bar0'])).toBe('bar[0,01,002]');
    expect(foldRange(['1', '01', '2'])).toBe('1-2,01');
    expect(foldRange(['08', '09', '10', '11'])).toBe('08-11');
  });

  it('folds names without digits and different prefixes side by side, sorted', () => {
    expect(foldNodeSet(['web2', 'db1', 'mon', 'db2', 'web1'])).toBe('db[1-2],mon,web[1-2]');
  });

  it('folds over several axes', () => {
    expect(foldNodeSet(expandNodeSet('r[1-2]-db[1-3]'))).toBe('r[1-2]-db[1-3]');
    expect(foldNodeSet(['r1-db1', 'r1-db2', 'r2-db1'])).toBe('r1-db[1-2],r2-db1');
  });

  it('round-trips what it expands', () => {
    for (const p of ['db[1-3,5]', 'db[01-12]', 'server[1-2]', 'h[1-5].dc[1-2]', 'a,b,c[1-3]']) {
      expect(new Set(expandNodeSet(foldNodeSet(expandNodeSet(p))))).toEqual(new Set(expandNodeSet(p)));
    }
  });

  it('keeps long digit runs (serials) as text', () => {
    expect(foldNodeSet(['x1234567890123456', 'x1234567890123457'])).toBe('x1234567890123456,x1234567890123457');
  });

  it('sorts host names naturally', () => {
    expect(['db10', 'db2', 'db1'].sort(compareHosts)).toEqual(['db1', 'db2', 'db10']);
  });
});
