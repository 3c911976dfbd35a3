/**
 * A watched server the bot cannot reach (bound to its host's loopback only, as a production port closed to all but
 * the application tier would be) is still watched: its host's worker reads it with credentials of its own
 * (mysql.status@host), for discovery, /replica status and the monitor.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { until } from '../helpers/wait.js';

const why = netnsUnavailable();

describe.skipIf(why !== null)(`watching a server only its host's worker can reach${why ? ` (${why})` : ''}`, () => {
  let topo: PlainTopology;
  let f: Fleet;
  let dir: string;
  let m: PlainServer, r1: PlainServer, hidden: PlainServer;
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);

  beforeAll(async () => {
    topo = createPlainTopology();
    dir = mkdtempSync(join(tmpdir(), 'gearops-watchw-'));
    const creds = join(dir, 'credentials.yml');
    writeFileSync(
      creds,
      `prod:\n  user: ${topo.accounts.monitor.user}\n  password: ${topo.accounts.monitor.password}\n`,
    );
    chmodSync(creds, 0o600);
    f = await startFleet({
      hosts: ['db1', 'db2', 'db3'],
      netns: true,
      env: { GEAROPS_CREDENTIALS_FILE: creds },
      workerArgs: { db3: ['--credentials-file', creds] },
    });
    console.log(`made ${f.network!.hosts.length} network-namespace hosts on ${f.network!.subnet}`);
    const net = f.network!;
    m = await topo.start({ host: net.host('db1'), port: 3306, serverId: 21 });
    r1 = await topo.start({ host: net.host('db2'), port: 3306, serverId: 22 });
    // db3's server listens on its host's loopback only and reports itself by the host's name.
    hidden = await topo.start({
      host: net.host('db3'),
      port: 3306,
      serverId: 23,
      listen: '127.0.0.1',
      reportHost: 'db3',
    });
    await r1.replicateFrom(m);
    await hidden.replicateFrom(m);
    await f.ctx.monitor!.start();
  });
  afterAll(async () => {
    await f?.stop();
    await topo?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cannot be read directly from the bot', async () => {
    const net = (await import('node:net')).connect({ host: f.network!.host('db3').address, port: 3306 });
    const refused = await new Promise<string>((resolve) => {
      net.once('connect', () => resolve('connected'));
      net.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    net.destroy();
    expect(refused).toBe('ECONNREFUSED');
  });

  it('is found, recorded and shown through its host worker', async () => {
    const { outcome, text } = await f.run(`/replica watch prod ${m.address}:3306 credentials=prod`, { yes: true });
    expect(outcome.status, text).toBe('ok');
    expect(text).not.toMatch(/Not mapped/);
    const c = await f.ctx.store!.clusters.get('prod');
    expect(c?.nodes.map((n) => [n.address, n.role, n.via ?? 'direct'])).toEqual([
      [m.address, 'master', 'direct'],
      [r1.address, 'replica', 'direct'],
      ['db3', 'replica', 'db3'],
    ]);
    const st = await f.run('/replica status prod');
    expect(st.outcome.status, st.text).toBe('ok');
    expect(st.text).toMatch(/every node healthy/);
  });

  it('alerts on the hidden replica and resolves it, read through the worker', async () => {
    await hidden.sql('STOP SLAVE IO_THREAD');
    await until(() => alerts().some((a) => a.text.includes('db3:3306') && /IO thread/i.test(a.text)), 20_000);
    const parent = alerts().find((a) => a.text.includes('db3:3306'))!;
    await hidden.sql('START SLAVE IO_THREAD');
    await until(() => f.sink.posts.some((p) => p.threadTs === parent.ref.ts && /Resolved/.test(p.text)), 20_000);
  });
});
