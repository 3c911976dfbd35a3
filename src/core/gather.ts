/**
 * Gathering the answers of many hosts the way `clush -b` and `dshbak -c` do:
 * hosts whose output is byte-identical (and that ended the same way) share one
 * block headed by their folded names; the others get blocks of their own;
 * failures come first. Pure: text in, blocks and text out.
 */
import { compareHosts, foldNodeSet } from './nodeset.js';

/** How one host's job ended, as gathering sees it. */
export interface HostAnswer {
  host: string;
  /** Denied, no worker, timed out, died, or exit ≠ 0: listed before the hosts that succeeded. */
  failed: boolean;
  /** How it ended, worded the same for hosts that ended alike: `exit 0`, `timed out after 30 s`, `denied: …`. */
  status: string;
  /** What it printed (already cleaned for the channel). */
  output: string;
}

/** Hosts that printed the same and ended the same way. */
export interface GatherBlock {
  hosts: string[];
  /** The hosts folded: `db[1-3,5]`. */
  nodeset: string;
  failed: boolean;
  status: string;
  output: string;
}

/** Groups answers into blocks: failures first, then in host order. */
export function gather(answers: HostAnswer[]): GatherBlock[] {
  const byKey = new Map<string, HostAnswer[]>();
  for (const a of answers) {
    // Status and output are both part of the key: the same text ending in exit 0 and in exit 2 are two stories.
    const key = JSON.stringify([a.failed, a.status, a.output]);
    byKey.set(key, [...(byKey.get(key) ?? []), a]);
  }
  const blocks = [...byKey.values()].map((group): GatherBlock => {
    const hosts = group.map((a) => a.host).sort(compareHosts);
    const first = group[0]!;
    return { hosts, nodeset: foldNodeSet(hosts), failed: first.failed, status: first.status, output: first.output };
  });
  return blocks.sort((x, y) => Number(y.failed) - Number(x.failed) || compareHosts(x.hosts[0]!, y.hosts[0]!));
}

/** `db[1-3,5] (4 hosts) — exit 0`. */
export function blockHeader(b: GatherBlock): string {
  return `${b.nodeset} (${b.hosts.length} host${b.hosts.length === 1 ? '' : 's'}) — ${b.status}`;
}

/** The blocks as plain text, as `clush -b` prints them: a header line, a rule, the output. */
export function renderGathered(blocks: GatherBlock[]): string {
  return blocks
    .map((b) => {
      const head = blockHeader(b);
      const body = b.output.replace(/\n$/, '');
      return [head, '-'.repeat(Math.min(head.length, 72)), ...(body ? [body] : [])].join('\n');
    })
    .join('\n\n');
}

/** Every line of every host's output prefixed `host: ` (pdsh style), with how each host ended; in host order. */
export function prefixedOutput(answers: HostAnswer[]): string {
  const lines: string[] = [];
  for (const a of [...answers].sort((x, y) => compareHosts(x.host, y.host))) {
    const body = a.output.replace(/\n$/, '');
    if (body) for (const l of body.split('\n')) lines.push(`${a.host}: ${l}`);
    lines.push(`${a.host}: [${a.status}]`);
  }
  return `${lines.join('\n')}\n`;
}
