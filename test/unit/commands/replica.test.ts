import { describe, expect, it } from 'vitest';
import { createReplicaCommand, parseInstall } from '../../../commands/replica.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import type { Dispatcher, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';
import type { ReplicationProbe } from '../../../src/core/ports/replication.js';
import type { ClusterRecord, ClusterStore } from '../../../src/core/ports/store.js';
import { createFakePolicy, createRecordingReply } from '../fakes/ports.js';

describe('parseInstall', () => {
  it('parses the full form and rejects bad input with a reason', () => {
    expect(parseInstall(['demo', 'master=server1', 'slaves=server2,server3', 'version=10.11', 'port=24000', 'pool=yes'])).toEqual({ cluster: 'demo', master: 'server1', replicas: ['server2', 'server3'], version: '10.11', port: 24000, pool: true });
    for (const [args, why] of [
      [['demo', 'master=s1'], /slaves=/],
      [['demo', 'master=s1', 'slaves=s1'], /named twice/],
      [['demo', 'master=s1', 'slaves=s2', 'port=80'], /base port/],
      [['demo', 'master=s1', 'slaves=s2', 'colour=red'], /unknown option/],
      [['demo', 'master=s1', 'slaves=s$2'], /not a host name/],
      [['Demo', 'master=s1', 'slaves=s2'], /not a cluster name/],
    ] as Array<[string[], RegExp]>) {
      expect(() => parseInstall(args)).toThrow(why);
    }
  });
});

describe('/replica install when a node fails half-way', () => {
  it('removes every node that was made and records nothing', async () => {
    const requests: JobRequest[] = [];
    const ok = <V>(host: string, capability: string, value: V): JobResult<V> => ({ host, capability, handle: 'H', ok: true, value, error: null, durationMs: 1 });
    const dispatcher: Dispatcher = {
      async submit<V>(req: JobRequest) {
        requests.push(req);
        const a = req.args as { port?: number; role?: string };
        if (req.capability === 'sandbox.check') return ok(req.host, req.capability, { host: req.host, versions: [{ version: '10.11.6', flavour: 'mariadb' }], ports: [{ port: (req.args as { ports: number[] }).ports[0], free: true }], freeDiskBytes: 1e10, sandboxes: [] }) as unknown as JobResult<V>;
        if (req.capability === 'sandbox.install' && a.role === 'replica' && req.host === 'server3') throw new GearopsError(ErrorCode.Sandbox, 'server3: replication did not start');
        return ok(req.host, req.capability, { name: 'demo', version: '10.11.6', flavour: 'mariadb', address: '127.0.0.1', port: a.port, serverId: 1 }) as unknown as JobResult<V>;
      },
      hosts: async () => ['server1', 'server2', 'server3'].map((host) => ({ host, capabilities: ['run', 'sandbox.check', 'sandbox.install', 'sandbox.remove'], servers: ['g:4730'] })),
      ping: async () => true,
      close: async () => undefined,
    };
    const created: ClusterRecord[] = [];
    const clusters: ClusterStore = { create: async (c) => void created.push(c), get: async () => null, list: async () => [], remove: async () => false };
    const cmd = createReplicaCommand({ dispatcher, policy: createFakePolicy({ allowActions: ['replica.install'] }), clusters, probe: {} as ReplicationProbe, logger: createSilentLogger() });
    const rec = createRecordingReply();
    const out = await cmd.handle({ command: 'replica', text: 'install demo master=server1 slaves=server2,server3 port=24000', principal: { userId: 'U1', channelId: 'C1', roles: [] }, reply: rec.reply, source: 'console', requestId: 'r' });
    expect(out.status).toBe('failed');
    const removed = requests.filter((r) => r.capability === 'sandbox.remove').map((r) => r.host).sort();
    expect(removed).toEqual(['server1', 'server2']);
    expect(created).toHaveLength(0);
    expect(rec.updates.at(-1)?.text).toMatch(/server3: replication did not start\. Removed every node that was made/);
  });
});
