import { describe, expect, it } from 'vitest';
import { discoverTopology, type NodeFacts, type TopologyReader } from '../../../src/core/topology.js';

type Spec = Partial<NodeFacts> & { id: number; from?: string };

/** A reader over a made-up fleet: address:port → facts; anything else is unreachable. */
function fleet(specs: Record<string, Spec>): TopologyReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    async facts(n) {
      const k = `${n.address}:${n.port}`;
      reads.push(k);
      const s = specs[k];
      if (!s) throw new Error(`the server at ${k} is unavailable: ECONNREFUSED`);
      const [host, port] = (s.from ?? ':').split(':');
      return {
        serverId: s.id,
        port: n.port,
        reportHost: s.reportHost ?? null,
        version: '10.11.9-MariaDB',
        readOnly: s.from !== undefined,
        source: s.from ? { host: host!, port: Number(port), ioRunning: 'Yes', sqlRunning: 'Yes' } : null,
        registered: s.registered ?? [],
        dumpClients: s.dumpClients ?? [],
      };
    },
  };
}

describe('discoverTopology', () => {
  it('climbs to the master and maps the tree below it, intermediate masters included', async () => {
    const r = fleet({
      'a:3306': { id: 1, registered: [{ host: 'b', port: 3306, serverId: 2 }], dumpClients: ['b', 'c'] },
      'b:3306': { id: 2, from: 'a:3306', registered: [{ host: 'd', port: 3307, serverId: 4 }] },
      'c:3306': { id: 3, from: 'a:3306' },
      'd:3307': { id: 4, from: 'b:3306' },
    });
    const d = await discoverTopology(r, { address: 'd', port: 3307 });
    expect(d.nodes.map((n) => `${n.address}:${n.port} ${n.role} <- ${n.replicatesFrom}`)).toEqual([
      'a:3306 master <- null',
      'b:3306 intermediate <- a:3306',
      'c:3306 replica <- a:3306',
      'd:3307 replica <- b:3306',
    ]);
    expect(d.problems).toEqual([]);
  });

  it('does not count a listed server that replicates from elsewhere, and says so', async () => {
    const r = fleet({
      'a:3306': { id: 1, registered: [{ host: 'x', port: 3306, serverId: 9 }] },
      'x:3306': { id: 9, from: 'other:3306' },
    });
    const d = await discoverTopology(r, { address: 'a', port: 3306 });
    expect(d.nodes.map((n) => n.address)).toEqual(['a']);
    expect(d.problems).toEqual([
      { address: 'x', port: 3306, reason: 'listed by a:3306 (SHOW SLAVE HOSTS) but does not replicate from it' },
    ]);
  });

  it('names a dump-thread client whose port it cannot find, with the fix', async () => {
    const r = fleet({ 'a:3306': { id: 1, dumpClients: ['10.0.0.9'] } });
    const d = await discoverTopology(r, { address: 'a', port: 3306 });
    expect(d.problems[0]?.address).toBe('10.0.0.9');
    expect(d.problems[0]?.reason).toMatch(/set report_host and report_port/);
  });

  it('stops at a ring of sources and at a source it cannot read, mapping what it can', async () => {
    const ring = fleet({
      'a:1': { id: 1, from: 'b:1', registered: [{ host: 'b', port: 1, serverId: 2 }] },
      'b:1': { id: 2, from: 'a:1', registered: [{ host: 'a', port: 1, serverId: 1 }] },
    });
    const d = await discoverTopology(ring, { address: 'a', port: 1 });
    expect(d.problems.some((p) => /loops back/.test(p.reason))).toBe(true);
    expect(d.nodes.length).toBe(2);
    const orphan = fleet({ 'r:1': { id: 5, from: 'gone:1' } });
    const o = await discoverTopology(orphan, { address: 'r', port: 1 });
    expect(o.nodes.map((n) => [n.address, n.role])).toEqual([['r', 'master']]);
    expect(o.problems[0]?.reason).toMatch(/^source of r:1 cannot be read: .*unavailable/);
  });

  it('reports a duplicate server_id instead of mapping the server twice', async () => {
    const r = fleet({
      'a:1': {
        id: 1,
        registered: [
          { host: 'b', port: 1, serverId: 2 },
          { host: 'c', port: 1, serverId: 2 },
        ],
      },
      'b:1': { id: 2, from: 'a:1' },
      'c:1': { id: 2, from: 'a:1' },
    });
    const d = await discoverTopology(r, { address: 'a', port: 1 });
    expect(d.nodes.map((n) => n.address)).toEqual(['a', 'b']);
    expect(d.problems).toEqual([{ address: 'c', port: 1, reason: 'same server_id 2 as b:1' }]);
  });
});
