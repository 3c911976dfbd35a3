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
    // A host name alone (as /replica status shows it); the sequence resolves it against the record.
    expect(parseFailover('failover', ['demo', 'to=db2'])).toMatchObject({ to: 'db2' });
    expect(parseFailover('rejoin', ['demo', 'db1'])).toMatchObject({ node: 'db1' });
  });

  it.each([
    [['failover'], /is not a cluster name/],
    [['failover', 'Demo;'], /is not a cluster name/],
    [['failover', 'demo', 'db2:3306'], /unknown option `db2:3306` \(to=<host> is the option\)/],
    [['failover', 'demo', "to=db2:3306'; DROP"], /is not a server's host name or host:port/],
    [['failover', 'demo', 'to=db2:99999'], /is not a server's host name or host:port/],
    [['failover', 'demo', 'to=db2:0'], /is not a server's host name or host:port/],
    [['failover', 'demo', 'to=a:1', 'to=b:2'], /to= given twice/],
    [['rejoin', 'demo'], /name the server to rejoin/],
    [['rejoin', 'demo', 'db1;'], /`db1;` is not a server's host name or host:port/],
    [['rejoin', 'demo', 'a:1', 'b:2'], /name one server to rejoin/],
  ])('refuses %j with the reason and the usage', (args, why) => {
    const [sub, ...rest] = args as ['failover' | 'rejoin', ...string[]];
    expect(() => parseFailover(sub, rest)).toThrow(why);
    expect(() => parseFailover(sub, rest)).toThrow(/Usage: \/replica (failover|rejoin)/);
  });
});
