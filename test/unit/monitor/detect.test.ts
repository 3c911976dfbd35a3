import { describe, expect, it } from 'vitest';
import { detectFaults } from '../../../src/monitor/detect.js';
import type { NodeStatus } from '../../../src/core/ports/replication.js';
import type { ClusterNode } from '../../../src/core/ports/store.js';

const nodes: ClusterNode[] = [
  { host: 'server1', address: '127.0.0.1', port: 21000, role: 'master', serverId: 1, sandbox: 'demo' },
  { host: 'server2', address: '127.0.0.1', port: 21001, role: 'replica', serverId: 2, sandbox: 'demo' },
  { host: 'server3', address: '127.0.0.1', port: 21002, role: 'replica', serverId: 3, sandbox: 'demo' },
];
const healthyMaster: NodeStatus = { reachable: true, isReplica: false, secondsBehind: null, lastIoErrno: null, lastIoError: null, lastSqlErrno: null, lastSqlError: null };
const healthyReplica: NodeStatus = { reachable: true, isReplica: true, ioRunning: 'Yes', sqlRunning: 'Yes', secondsBehind: 0, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '' };

describe('detectFaults', () => {
  it('finds nothing on a healthy cluster', () => {
    expect(detectFaults(nodes, [healthyMaster, healthyReplica, healthyReplica], 30)).toEqual([]);
  });

  it('reports a stopped SQL thread with its error', () => {
    const broken = { ...healthyReplica, sqlRunning: 'No' as const, secondsBehind: null, lastSqlErrno: 1062, lastSqlError: "Duplicate entry '1' for key 'PRIMARY'" };
    expect(detectFaults(nodes, [healthyMaster, broken, healthyReplica], 30)).toEqual([
      { host: 'server2', port: 21001, role: 'replica', kind: 'sql_stopped', errno: 1062, error: "Duplicate entry '1' for key 'PRIMARY'", lag: null },
    ]);
  });

  it('reports a stopped IO thread, but not one that is merely connecting without error', () => {
    const stopped = { ...healthyReplica, ioRunning: 'No' as const, secondsBehind: null };
    const connecting = { ...healthyReplica, ioRunning: 'Connecting' as const, secondsBehind: null };
    expect(detectFaults(nodes, [healthyMaster, stopped, connecting], 30).map((f) => [f.host, f.kind])).toEqual([['server2', 'io_stopped']]);
  });

  it('judges lag only on working replicas (NULL lag of a broken one is not lag)', () => {
    const lagging = { ...healthyReplica, secondsBehind: 45 };
    const brokenNull = { ...healthyReplica, sqlRunning: 'No' as const, secondsBehind: null, lastSqlErrno: 1146, lastSqlError: 'no table' };
    const faults = detectFaults(nodes, [healthyMaster, lagging, brokenNull], 30);
    expect(faults.map((f) => [f.host, f.kind, f.lag])).toEqual([['server2', 'lag', 45], ['server3', 'sql_stopped', null]]);
    expect(detectFaults(nodes, [healthyMaster, { ...healthyReplica, secondsBehind: 30 }, healthyReplica], 30)).toEqual([]);
  });

  it('reports an unreachable replica', () => {
    const dead: NodeStatus = { reachable: false, error: 'connect ECONNREFUSED', isReplica: false, secondsBehind: null, lastIoErrno: null, lastIoError: null, lastSqlErrno: null, lastSqlError: null };
    expect(detectFaults(nodes, [healthyMaster, dead, healthyReplica], 30).map((f) => [f.host, f.kind, f.error])).toEqual([['server2', 'unreachable', 'connect ECONNREFUSED']]);
  });

  it('reports the master lost when it is down and every replica\'s IO thread fails', () => {
    const dead: NodeStatus = { reachable: false, error: 'refused', isReplica: false, secondsBehind: null, lastIoErrno: null, lastIoError: null, lastSqlErrno: null, lastSqlError: null };
    const ioErr = { ...healthyReplica, ioRunning: 'Connecting' as const, secondsBehind: null, lastIoErrno: 2003, lastIoError: "Can't connect to server" };
    const faults = detectFaults(nodes, [dead, ioErr, ioErr], 30);
    expect(faults.map((f) => [f.host, f.kind, f.errno])).toEqual([['server1', 'master_lost', 2003]]);
  });
});
