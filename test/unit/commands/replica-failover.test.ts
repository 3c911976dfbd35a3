import { describe, expect, it } from 'vitest';
import { parseFailover } from '../../../commands/replica-failover.js';

describe('parsing /replica failover and rejoin', () => {
  it('reads the cluster, to= and --yes', () => {
    expect(parseFailover('failover', ['demo'])).toEqual({ cluster: 'demo', assumeYes: false });
    expect(parseFailover('failover', ['demo', 'to=db2:3306', '--yes'])).toEqual({
      cluster: 'demo',
      to: 'db2:3306',
      assumeYes: true,
    });
    expect(parseFailover('rejoin', ['demo', 'db1:3306'])).toEqual({
      cluster: 'demo',
      node: 'db1:3306',
      assumeYes: false,
    });
  });

  it.each([
    [['failover'], /is not a cluster name/],
    [['failover', 'Demo;'], /is not a cluster name/],
    [['failover', 'demo', 'db2:3306'], /unknown option `db2:3306` \(to=<host:port> is the option\)/],
    [['failover', 'demo', "to=db2:3306'; DROP"], /is not host:port of a server/],
    [['failover', 'demo', 'to=db2:99999'], /is not host:port of a server/],
    [['failover', 'demo', 'to=a:1', 'to=b:2'], /to= given twice/],
    [['rejoin', 'demo'], /name the server to rejoin/],
    [['rejoin', 'demo', 'db1'], /`db1` is not host:port/],
    [['rejoin', 'demo', 'a:1', 'b:2'], /name one server to rejoin/],
  ])('refuses %j with the reason and the usage', (args, why) => {
    const [sub, ...rest] = args as ['failover' | 'rejoin', ...string[]];
    expect(() => parseFailover(sub, rest)).toThrow(why);
    expect(() => parseFailover(sub, rest)).toThrow(/Usage: \/replica (failover|rejoin)/);
  });
});
