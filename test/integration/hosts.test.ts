/**
 * Real separate hosts: three workers, each in a network namespace with its own address, gearmand and the bot on the
 * bridge's address. What crosses the network here (job traffic, sandboxes bound to their host's address,
 * replication between hosts) really crosses it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { createFileCredentialStore } from '../../src/cluster-credentials.js';
import { discoverTopology } from '../../src/core/topology.js';
import { createTopologyReader } from '../../src/mysql/topology-reader.js';

const why = netnsUnavailable();
const HOSTS = ['h1', 'h2', 'h3'];

describe.skipIf(why !== null)(
  `/run and /replica across ${HOSTS.length} namespace hosts${why ? ` (${why})` : ''}`,
  () => {
    let f: Fleet;
    beforeAll(async () => {
      f = await startFleet({ hosts: HOSTS, netns: true });
      const addresses = f.network!.hosts.map((h) => `${h.name}=${h.address}`).join(' ');
      console.log(`made ${f.network!.hosts.length} network-namespace hosts on ${f.network!.subnet}: ${addresses}`);
    });
    afterAll(async () => {
      await f?.stop();
    });

    it('registers a worker from each host, connected from its own address', async () => {
      const { outcome, text } = await f.run('/run hosts');
      expect(outcome.status, text).toBe('ok');
      for (const h of HOSTS) expect(text).toContain(h);
      // gearmand sees each worker's connection coming from that host's address.
      const peers = (await import('node:child_process'))
        .execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${f.gearmand.port} )`], { encoding: 'utf8' })
        .split('\n');
      for (const h of f.network!.hosts) expect(peers.some((l) => l.includes(`${h.address}:`))).toBe(true);
    });

    it("/run h2 ss -nat shows h2's own sockets, not the bot's or the other hosts'", async () => {
      const h2 = f.network!.host('h2');
      const { outcome, text } = await f.run('/run h2 ss -nat');
      expect(outcome.status, text).toBe('ok');
      // h2's worker's connection to gearmand, seen from h2's side.
      expect(text).toContain(`${h2.address}:`);
      expect(text).toContain(`${f.network!.gateway}:${f.gearmand.port}`);
      for (const other of ['h1', 'h3']) expect(text).not.toContain(`${f.network!.host(other).address}:`);
      // In this process's namespace the store listens on loopback; h2 has no such socket.
      expect(text).not.toContain(`127.0.0.1:${f.db.port}`);
    });

    it('/replica install puts master and replicas on three hosts, replicating across them', async () => {
      const [a1, a2, a3] = HOSTS.map((h) => f.network!.host(h).address);
      const { outcome, text } = await f.run('/replica install net master=h1 slaves=h2,h3');
      expect(outcome.status, text).toBe('ok');
      expect(text).toMatch(/cluster net ready/);
      const c = await f.ctx.store!.clusters.get('net');
      expect(c?.nodes.map((n) => [n.host, n.address, n.role])).toEqual([
        ['h1', a1, 'master'],
        ['h2', a2, 'replica'],
        ['h3', a3, 'replica'],
      ]);
      const master = c!.nodes[0]!;
      // Each replica's IO thread reaches the master at h1's address, over the bridge.
      const status = await f.run('/replica sql net SHOW SLAVE STATUS');
      expect(status.outcome.status, status.text).toBe('ok');
      for (const r of c!.nodes.slice(1)) {
        const part = status.text.slice(status.text.indexOf(`*replica ${r.host}:${r.port}*`));
        expect(part).toMatch(new RegExp(`^ +Master_Host: ${a1!.replace(/\./g, '\\.')}$`, 'm'));
        expect(part).toMatch(new RegExp(`^ +Master_Port: ${master.port}$`, 'm'));
        expect(part).toMatch(/^ +Slave_IO_Running: Yes$/m);
        expect(part).toMatch(/^ +Slave_SQL_Running: Yes$/m);
      }
      // The master sees its replicas connected from their own addresses (report-host is the advertised address),
      // read with the cluster's own admin account (/replica sql's read-only one may not list replicas).
      const admin = createFileCredentialStore(f.env.GEAROPS_STATE_DIR!).get('net')!.admin;
      const seen = await discoverTopology(createTopologyReader({ credentials: admin }), {
        address: a1!,
        port: master.port,
      });
      expect(seen.nodes.map((n) => [n.address, n.role])).toEqual([
        [a1, 'master'],
        [a2, 'replica'],
        [a3, 'replica'],
      ]);
      // Each server listens on its own host's address only: h1's server is not on h2's address.
      const listening = f.network!.host('h2').exec(['ss', '-Hltn']);
      expect(listening).toContain(`${a2}:${c!.nodes[1]!.port}`);
      expect(listening).not.toContain(`:${master.port} `);
      const removed = await f.run('/replica remove net', { yes: true });
      expect(removed.outcome.status, removed.text).toBe('ok');
    });
  },
);
