import { describe, expect, it } from 'vitest';
import {
  compareGtids,
  describeRanges,
  formatGtidList,
  formatGtidRange,
  gtidDistance,
  isContainedIn,
  missingFrom,
  parseGtid,
  parseGtidList,
  positionOf,
  compareGtid,
  formatGtidPosition,
  gtidContains,
  gtidMissing,
  isGtidPosition,
  parseGtidPosition,
} from '../../../src/core/gtid.js';

describe('parsing GTIDs', () => {
  it('reads domain-server-seq, with 64-bit sequence numbers', () => {
    expect(parseGtid('0-1-100')).toEqual({ domain: 0, server: 1, seq: 100n });
    expect(parseGtid(' 4294967295-4294967295-18446744073709551615 ').seq).toBe(18446744073709551615n);
  });

  it.each(['', '0-1', '0-1-2-3', 'a-1-2', '0-1-x', '-1-1-1', '0-4294967296-1', '0-1-18446744073709551616', '0 1 2'])(
    'refuses %j, naming it',
    (text) => {
      expect(() => parseGtid(text)).toThrow(/is not a GTID/);
    },
  );

  it('reads lists separated by commas, spaces and new lines; empty and NULL are the empty list', () => {
    expect(parseGtidList('0-1-100,1-2-50')).toHaveLength(2);
    expect(parseGtidList('0-1-100,\n1-2-50')).toHaveLength(2);
    expect(parseGtidList('')).toEqual([]);
    expect(parseGtidList(null)).toEqual([]);
    expect(() => parseGtidList('0-1-100,junk')).toThrow(/`junk` is not a GTID/);
  });

  it('writes lists sorted by domain and server', () => {
    expect(formatGtidList(parseGtidList('1-2-50,0-3-7,0-1-100'))).toBe('0-1-100,0-3-7,1-2-50');
  });

  it('reads a binlog state as a position: the highest seq of each domain', () => {
    const p = positionOf('0-1-100,0-2-102,1-5-3');
    expect(p.get(0)).toEqual({ domain: 0, server: 2, seq: 102n });
    expect(p.get(1)?.seq).toBe(3n);
  });
});

describe('comparing positions', () => {
  it('says equal, behind, ahead and incomparable', () => {
    expect(compareGtids('0-1-5', '0-1-5')).toBe('equal');
    expect(compareGtids('0-1-5', '0-1-6')).toBe('behind');
    expect(compareGtids('0-1-7,1-1-1', '0-1-6,1-1-1')).toBe('ahead');
    expect(compareGtids('0-1-7,1-1-1', '0-1-6,1-1-2')).toBe('incomparable');
    // A domain one side lacks counts as seq 0 there.
    expect(compareGtids('0-1-5', '0-1-5,1-2-1')).toBe('behind');
    expect(compareGtids('', '')).toBe('equal');
  });

  it('compares sequence numbers as numbers, not text', () => {
    expect(compareGtids('0-1-9', '0-1-10')).toBe('behind');
    expect(compareGtids('0-1-18446744073709551614', '0-1-18446744073709551615')).toBe('behind');
  });
});

describe('containment and what is missing', () => {
  it('finds the range of a position ahead in a domain', () => {
    expect(missingFrom('0-1-105', '0-1-100')).toEqual([{ domain: 0, server: 1, from: 101n, to: 105n }]);
    expect(isContainedIn('0-1-100', '0-1-105')).toBe(true);
    expect(isContainedIn('0-1-105', '0-1-105')).toBe(true);
  });

  it('finds a whole domain the other side never had', () => {
    expect(missingFrom('0-1-5,7-3-2', '0-1-9')).toEqual([{ domain: 7, server: 3, from: 1n, to: 2n }]);
    expect(isContainedIn('0-1-5', '')).toBe(false);
    expect(isContainedIn('', '0-1-5')).toBe(true);
  });

  it('sees a fork below the position when given the other side binlog state', () => {
    // The old master (server 1) wrote 0-1-101 that nobody received; the new master (server 2) went on at 101.
    const oldMaster = '0-1-101';
    const newMasterPosition = '0-2-102';
    const newMasterState = '0-1-100,0-2-102';
    // By position alone the fork is invisible …
    expect(isContainedIn(oldMaster, newMasterPosition)).toBe(true);
    // … its state shows that server 1's events stop at 100.
    expect(missingFrom(oldMaster, newMasterState)).toEqual([{ domain: 0, server: 1, from: 101n, to: 101n }]);
  });

  it('checks every entry of a binlog state on the first side', () => {
    const a = '0-1-100,0-2-40,1-1-8';
    expect(missingFrom(a, '0-1-100,0-2-40,1-1-8')).toEqual([]);
    expect(missingFrom(a, '0-1-100,0-2-39,1-1-9')).toEqual([{ domain: 0, server: 2, from: 40n, to: 40n }]);
  });

  it('starts the range after another server GTID of the same history that the other side holds', () => {
    // A (server 1) wrote 1..6, replicated server 3's 7..8, then wrote 9 alone; B got 1..8 and went on as server 2.
    expect(missingFrom('0-1-9,0-3-8', '0-1-6,0-3-8,0-2-12')).toEqual([{ domain: 0, server: 1, from: 9n, to: 9n }]);
    // B without server 3's last one: the range goes back to what B holds of server 1.
    expect(missingFrom('0-1-9,0-3-8', '0-1-6,0-3-7,0-2-12')).toEqual([
      { domain: 0, server: 1, from: 7n, to: 9n },
      { domain: 0, server: 3, from: 8n, to: 8n },
    ]);
  });

  it('takes a server the state does not name as covered by the domain position', () => {
    // Server 3 wrote seq 1..10 long ago; the other side started replicating later and never saw its GTIDs.
    expect(missingFrom('0-3-10,0-1-100', '0-1-120')).toEqual([]);
  });
});

describe('formatting for a thread', () => {
  it('writes one GTID or a range, with counts', () => {
    expect(formatGtidRange({ domain: 0, server: 1, from: 101n, to: 101n })).toBe('0-1-101');
    expect(formatGtidRange({ domain: 0, server: 1, from: 101n, to: 105n })).toBe('0-1-101..0-1-105');
    expect(describeRanges(missingFrom('0-1-105,1-3-7', '0-1-100,1-3-6'))).toBe(
      '0-1-101..0-1-105 (5 transactions), 1-3-7 (1 transaction)',
    );
  });

  it('counts what is received but not yet executed', () => {
    expect(gtidDistance('0-1-100', '0-1-104')).toBe(4n);
    expect(gtidDistance('0-1-100,1-1-5', '0-1-100,1-1-7,2-1-1')).toBe(3n);
    expect(gtidDistance('0-1-104', '0-1-100')).toBe(0n);
  });
});

// The position-only layer the switchover foundation uses.

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
