import { describe, expect, it } from 'vitest';
import { replicationProof } from '../../../src/cluster/prove.js';
import type { GtidState } from '../../../src/core/ports/replication-control.js';
import type { NodeAddress } from '../../../src/core/ports/replication.js';

const state = (o: Partial<GtidState>): GtidState => ({
  serverId: 1,
  binlogPos: '0-1-7',
  currentPos: '0-1-7',
  slavePos: '0-1-7',
  readOnly: true,
  logBin: true,
  logSlaveUpdates: true,
  replicating: true,
  master: { host: 'db2', port: 3306 },
  usingGtid: 'Slave_Pos',
  ioRunning: 'Yes',
  sqlRunning: 'Yes',
  secondsBehind: 0,
  lastIoError: null,
  lastSqlError: null,
  relayBacklog: 0,
  ...o,
});

describe('the switchover proof', () => {
  const probe = { verifyReplication: async () => [{ node: { address: 'x', port: 1 }, ok: true, detail: 'marker' }] };
  const m: NodeAddress = { address: 'db2', port: 3306, via: 'db2' };
  const r1: NodeAddress = { address: 'db1', port: 3306, via: 'db1' };
  const r3: NodeAddress = { address: 'db3', port: 3306, via: 'db3' };

  it('writes a marker when every node is direct', async () => {
    const control = { gtidState: async () => state({}), waitForGtid: async () => true };
    const v = replicationProof(probe, control);
    expect(await v({ address: 'a', port: 1 }, [{ address: 'b', port: 1 }])).toEqual([
      { node: { address: 'x', port: 1 }, ok: true, detail: 'marker' },
    ]);
  });

  it('proves via nodes by their threads from the new master at its position; a node elsewhere fails', async () => {
    const waited: string[] = [];
    const control = {
      gtidState: async (n: NodeAddress) =>
        n.address === 'db2'
          ? state({ replicating: false, binlogPos: '0-2-9' })
          : n.address === 'db3'
            ? state({ master: { host: 'db1', port: 3306 } })
            : state({}),
      waitForGtid: async (n: NodeAddress, p: string) => (waited.push(`${n.address} ${p}`), true),
    };
    const proofs = await replicationProof(probe, control)(m, [r1, r3], { timeoutMs: 300 });
    expect(waited).toEqual(['db1 0-2-9', 'db3 0-2-9']);
    expect(proofs.map((p) => [p.node.address, p.ok])).toEqual([
      ['db1', true],
      ['db3', false],
    ]);
    expect(proofs[1]!.detail).toMatch(/replicates from db1:3306 \(IO Yes, SQL Yes\)/);
  });
});
