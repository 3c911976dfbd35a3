import { describe, expect, it } from 'vitest';
import {
  compareGtid,
  formatGtidPosition,
  gtidContains,
  gtidMissing,
  isGtidPosition,
  parseGtidPosition,
} from '../../../src/core/gtid.js';

const p = parseGtidPosition;

describe('GTID positions', () => {
  it('parses and formats MariaDB positions, domains in order, the highest sequence per domain', () => {
    expect(formatGtidPosition(p('1-2-7, 0-1-100'))).toBe('0-1-100,1-2-7');
    expect(formatGtidPosition(p('0-1-5,0-2-9'))).toBe('0-2-9');
    expect(p('').size).toBe(0);
    expect(p(null).size).toBe(0);
  });

  it('refuses anything but d-s-n lists', () => {
    for (const bad of ["0-1-1'); DROP TABLE t; --", '0-1', 'a-b-c', '0-1-1;', '0-1-1 0-2-2', '-1-1-1'])
      expect(isGtidPosition(bad), bad).toBe(false);
    expect(() => p('0-1-x')).toThrow(/not a GTID position/);
    expect(isGtidPosition('0-1-100,1-2-3')).toBe(true);
    expect(isGtidPosition('')).toBe(true);
  });

  it('tells containment per domain, and names what is missing as ranges', () => {
    const master = p('0-1-100,1-3-20');
    expect(gtidContains(master, p('0-1-99'))).toBe(true);
    expect(gtidContains(master, p('0-1-100,1-3-20'))).toBe(true);
    expect(gtidContains(master, p('0-1-101'))).toBe(false);
    expect(gtidContains(master, p('2-5-1'))).toBe(false);
    expect(gtidMissing(master, p('0-1-103,1-3-20,2-5-1'))).toEqual(['0-1-101..0-1-103', '2-5-1']);
    expect(gtidMissing(master, p('0-1-50'))).toEqual([]);
  });

  it('orders positions by progress, agreeing with containment', () => {
    expect(compareGtid(p('0-1-101'), p('0-1-100'))).toBe(1);
    expect(compareGtid(p('0-1-100'), p('0-1-100'))).toBe(0);
    expect(compareGtid(p('0-1-100'), p('0-1-100,1-2-1'))).toBe(-1);
    const ranked = ['0-1-7', '0-1-9', '0-1-8'].map(p).sort((a, b) => compareGtid(b, a));
    expect(ranked.map(formatGtidPosition)).toEqual(['0-1-9', '0-1-8', '0-1-7']);
  });
});
