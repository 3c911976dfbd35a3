/**
 * Real separate hosts for tests: each host is a Linux network namespace with its own address, joined to the test
 * process's namespace by a veth pair on one bridge. The bridge holds the gateway address, where gearmand and the bot
 * (this process) are reached; programs started with `exec` or `wrap` run inside the host's namespace and see only
 * its own sockets. Every test that needs several hosts makes them here.
 *
 * Needs root and iproute2 (`ip netns`). Addresses are a random 10.x.y.0/24 not routed on this machine, and names
 * carry a random id, so test files running at once do not collide. Nothing is routed beyond the bridge.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Why namespaces cannot be made here, or null when they can (root, iproute2, a netns made and removed). */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network-namespace hosts need root (ip netns add)';
  const probe = `gops-probe-${randomBytes(3).toString('hex')}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return null;
  } catch (err) {
    return `cannot make network namespaces here: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** One host: a namespace with its own address. */
export interface NetnsHost {
  /** The name tests use (the worker's --host). */
  name: string;
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  /** Its address on the bridge. */
  address: string;
  /** The argv prefix that runs a program inside this host. */
  wrap: string[];
  /** Runs argv inside this host; resolves with its stdout (rejects on a non-zero exit). */
  exec(argv: string[]): string;
  /** Starts argv inside this host. */
  spawn(argv: string[], opts?: SpawnOptions): ChildProcess;
  /** Takes the host off the network (its cable pulled: the bridge side of its veth goes down). */
  unplug(): void;
  /** Puts it back. */
  plug(): void;
}

/** A bridge and its hosts. */
export interface NetnsNetwork {
  /** The bridge's address: listen here for the hosts to reach this process. */
  gateway: string;
  /** The subnet, as a.b.c.0/24. */
  subnet: string;
  hosts: NetnsHost[];
  host(name: string): NetnsHost;
  /** Removes every namespace, veth and the bridge (processes inside should be stopped first). */
  destroy(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A 10.x.y.0/24 that no route on this machine covers yet. */
function freeSubnet(): [number, number] {
  const routes = ip(['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 50; i++) {
    const x = randomInt(1, 255);
    const y = randomInt(0, 256);
    if (!routes.includes(`10.${x}.${y}.`)) return [x, y];
  }
  throw new Error('no free 10.x.y.0/24 subnet found for test hosts');
}

/**
 * Makes one host per name, all on one new bridge; host i gets address .(10+i). With `names`, programs inside every
 * host resolve every host's name to its address (a hosts file of their own, /etc/netns/<ns>/hosts, which
 * `ip netns exec` mounts over /etc/hosts), as hosts with DNS do; this process does not.
 */
export function createNetnsNetwork(names: string[], opts: { names?: boolean } = {}): NetnsNetwork {
  if (names.length === 0 || names.length > 200) throw new Error('between 1 and 200 hosts');
  const id = randomBytes(3).toString('hex');
  const [x, y] = freeSubnet();
  const prefix = `10.${x}.${y}`;
  const gateway = `${prefix}.1`;
  const bridge = `gb${id}`;
  const made: { namespaces: string[]; links: string[] } = { namespaces: [], links: [] };
  const destroy = () => {
    for (const ns of made.namespaces) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    for (const ns of made.namespaces) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    for (const link of [...made.links].reverse()) {
      try {
        ip(['link', 'del', link]);
      } catch {
        // deleting a namespace deletes its veth pair
      }
    }
    made.namespaces.length = 0;
    made.links.length = 0;
  };
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    made.links.push(bridge);
    ip(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    const hosts = names.map((name, i): NetnsHost => {
      const ns = `gops-${id}-${i + 1}`;
      const outside = `gv${id}${i + 1}`;
      const inside = `gi${id}${i + 1}`;
      const address = `${prefix}.${10 + i}`;
      ip(['netns', 'add', ns]);
      made.namespaces.push(ns);
      ip(['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
      made.links.push(outside);
      ip(['link', 'set', inside, 'netns', ns]);
      ip(['link', 'set', outside, 'master', bridge]);
      ip(['link', 'set', outside, 'up']);
      const inNs = (args: string[]) => ip(['-n', ns, ...args]);
      inNs(['link', 'set', 'lo', 'up']);
      inNs(['link', 'set', inside, 'name', 'eth0']);
      inNs(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      inNs(['link', 'set', 'eth0', 'up']);
      inNs(['route', 'add', 'default', 'via', gateway]);
      const wrap = ['ip', 'netns', 'exec', ns];
      return {
        name,
        ns,
        address,
        wrap,
        exec: (argv) => execFileSync(wrap[0]!, [...wrap.slice(1), ...argv], { encoding: 'utf8' }),
        spawn: (argv, opts = {}) => spawn(wrap[0]!, [...wrap.slice(1), ...argv], opts),
        unplug: () => void ip(['link', 'set', outside, 'down']),
        plug: () => void ip(['link', 'set', outside, 'up']),
      };
    });
    if (opts.names) {
      const table = `${readFileSync('/etc/hosts', 'utf8').trimEnd()}\n${hosts.map((h) => `${h.address} ${h.name}`).join('\n')}\n`;
      for (const h of hosts) {
        mkdirSync(`/etc/netns/${h.ns}`, { recursive: true });
        writeFileSync(`/etc/netns/${h.ns}/hosts`, table);
      }
    }
    return {
      gateway,
      subnet: `${prefix}.0/24`,
      hosts,
      host(name) {
        const h = hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no test host ${name}`);
        return h;
      },
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}
