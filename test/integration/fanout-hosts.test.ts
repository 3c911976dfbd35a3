/**
 * /run over many hosts, each a network namespace of its own: five workers answer one command in one gathered
 * message, and a host whose network goes away mid-command is reported while the others answer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';

const why = netnsUnavailable();
const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5'];

describe.skipIf(why !== null)(`/run fan-out over ${HOSTS.length} namespace hosts${why ? ` (${why})` : ''}`, () => {
  let f: Fleet;
  let dir: string;
  beforeAll(async () => {
    // The bot's policy gives each host job 3 s, and the bot waits 1 s past it (not 10 s), so an unplugged host is
    // reported soon; the workers keep theirs.
    dir = mkdtempSync(join(tmpdir(), 'gearops-fanout-hosts-'));
    const policy = join(dir, 'policy.yml');
    writeFileSync(policy, readFileSync('policies/demo.yml', 'utf8').replace(/timeout_s: \d+/, 'timeout_s: 3'));
    f = await startFleet({ hosts: HOSTS, netns: true, env: { GEAROPS_POLICY: policy }, runExtraTimeoutMs: 1000 });
    console.log(`made ${f.network!.hosts.length} network-namespace hosts on ${f.network!.subnet}`);
  });
  afterAll(async () => {
    await f?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gathers identical answers from five hosts under their folded names, in one message', async () => {
    const { outcome, text } = await f.run('/run all hostname');
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/h\[1-5\] \(5 hosts\)/);
    // Each host's own address: its worker reached gearmand from its own namespace.
    const ss = await f.run('/run h[2,4] ss -nat');
    for (const h of ['h2', 'h4']) expect(ss.text).toContain(`${f.network!.host(h).address}:`);
  });

  it('reports a host whose network goes away mid-command, while the others answer', async () => {
    const h5 = f.network!.host('h5');
    h5.unplug();
    try {
      const { text } = await f.run('/run all hostname');
      expect(text).toMatch(/h\[1-4\] \(4 hosts\)/);
      expect(text).toMatch(/h5[^\n]*\n?[^\n]*(timed out|no answer|no worker)/);
    } finally {
      h5.plug();
    }
  });
});
