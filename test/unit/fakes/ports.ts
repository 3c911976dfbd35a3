/** Fakes of the ports, for unit tests of the code above them (commands, router). */
import type { ChatFile, ChatMessage } from '../../../src/core/message.js';
import { renderText } from '../../../src/core/message.js';
import type { ChatSink, MessageRef, Reply } from '../../../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule } from '../../../src/core/ports/commands.js';
import { createCommandRouter } from '../../../src/core/router.js';
import { createSilentLogger } from '../../../src/log.js';
import type { Decision, Policy, PolicyAction, RunDecision } from '../../../src/core/ports/policy.js';
import type {
  AuditEntry,
  AuditRow,
  AuditStore,
  ClusterRecord,
  InteractionStore,
  ChangeJournal,
  PoolChange,
  PoolNode,
  StoreLock,
  TopologyChange,
} from '../../../src/core/ports/store.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { planWriteMove, type WriteMove } from '../../../src/core/pool-move.js';

/** A Reply that records what a command said. */
export function createRecordingReply(channel = 'C1', opts: { confirm?: boolean } = {}) {
  const ephemerals: string[] = [];
  const posts: Array<{ ref: MessageRef; text: string; threadTs?: string }> = [];
  const updates: Array<{ ref: MessageRef; text: string }> = [];
  const uploads: Array<{ ref: MessageRef; file: ChatFile }> = [];
  const confirms: string[] = [];
  let n = 0;
  const reply: Reply = {
    channel,
    async ephemeral(msg: ChatMessage) {
      ephemerals.push(renderText(msg));
    },
    async post(msg, o) {
      const ref = { channel, ts: `100.${++n}` };
      posts.push({ ref, text: renderText(o?.latest?.() ?? msg), threadTs: o?.threadTs });
      return ref;
    },
    async update(ref, msg) {
      updates.push({ ref, text: renderText(msg) });
    },
    async upload(ref, file) {
      uploads.push({ ref, file });
    },
    async confirm(q) {
      confirms.push(renderText(q));
      return opts.confirm ?? false;
    },
  };
  return { reply, ephemerals, posts, updates, uploads, confirms };
}

/** A policy fake: allows run lines in `allowRun` and actions in `allowActions`. */
export function createFakePolicy(
  opts: { allowRun?: Record<string, string[][]>; allowActions?: PolicyAction[]; roles?: Record<string, string[]> } = {},
): Policy {
  return {
    source: 'fake.yml',
    settings: { autoOffline: false, autoFailover: false, failoverBlockS: 3600, failcount: 3, switchoverTimeoutS: 10 },
    rolesFor: (u) => opts.roles?.[u] ?? [],
    groupIds: () => [],
    checkRun({ host, line }): RunDecision {
      const pipeline = opts.allowRun?.[line];
      return pipeline
        ? {
            allow: true,
            rule: 'fake',
            reason: 'allowed by rule fake',
            pipeline,
            timeoutMs: 5000,
            maxOutputBytes: 1 << 20,
          }
        : { allow: false, reason: `no rule allows \`${line}\` on ${host}`, timeoutMs: 0, maxOutputBytes: 0 };
    },
    checkAction({ action }): Decision {
      return opts.allowActions?.includes(action)
        ? { allow: true, rule: 'fake', reason: 'allowed by rule fake' }
        : { allow: false, reason: `no rule allows ${action}` };
    },
    checkSql: () => ({ allow: false, reason: 'no sql' }),
    programs: () => ['uptime'],
    describe: () => ['uptime'],
  };
}

/** An audit store in memory: `rows` in the order written; `recent` newest first, like the store. */
export function createMemoryAudit(): AuditStore & { rows: AuditEntry[] } {
  const rows: AuditEntry[] = [];
  const times: number[] = [];
  return {
    rows,
    async record(e) {
      rows.push(e);
      times.push(Date.now() - (e.ageMs ?? 0));
    },
    async recent(limit): Promise<AuditRow[]> {
      return rows
        .map((r, i) => ({ ...r, id: i + 1, at: new Date(times[i]!) }))
        .reverse()
        .slice(0, limit);
    },
  };
}

/** A ready two-node cluster record: master `<name>1` at 10.0.0.1:`port`, replica `<name>2` at 10.0.0.2:`port + 1`. */
export function fakeCluster(name: string, port: number): ClusterRecord {
  return {
    name,
    version: '10.11',
    credentials: 'test',
    createdBy: 'U0',
    state: 'ready',
    nodes: [
      { host: `${name}1`, address: '10.0.0.1', port, role: 'master', serverId: 1, sandbox: name },
      { host: `${name}2`, address: '10.0.0.2', port: port + 1, role: 'replica', serverId: 2, sandbox: name },
    ],
  };
}

/**
 * The store's InteractionStore in memory, with the same once-only rules as the MySQL one (tables of migration
 * 3); `now` moves time for expiry and rate windows; `failing` makes every call throw (the store is down).
 */
export function createMemoryInteractions(opts: { now?: () => number } = {}): InteractionStore & {
  failing: boolean;
  keys: Set<string>;
} {
  const now = opts.now ?? Date.now;
  const keys = new Set<string>();
  const confirmations = new Map<
    string,
    { user: string; answer: boolean | null; taken: boolean | null; expiresAt: number }
  >();
  const hits = new Map<string, number[]>();
  const self = {
    failing: false,
    keys,
    async claim(ks: readonly string[]) {
      check();
      const fresh = ks.filter((k) => !keys.has(k));
      for (const k of ks) keys.add(k);
      return fresh.length === ks.length;
    },
    async openConfirmation(id: string, user: string, ttlMs: number) {
      check();
      confirmations.set(id, { user, answer: null, taken: null, expiresAt: now() + ttlMs });
    },
    async answerConfirmation(id: string, user: string, yes: boolean) {
      check();
      const c = confirmations.get(id);
      if (!c) return { press: 'unknown' as const };
      if (c.user !== user) return { press: 'not_yours' as const, askedOf: c.user };
      if (c.answer !== null) return { press: 'answered' as const, askedOf: c.user };
      if (c.taken !== null || c.expiresAt <= now()) return { press: 'expired' as const, askedOf: c.user };
      c.answer = yes;
      return { press: 'ok' as const };
    },
    async settleConfirmation(id: string, final: boolean) {
      check();
      const c = confirmations.get(id);
      if (!c) return null;
      if (c.taken === null && (c.answer !== null || final)) c.taken = c.answer ?? false;
      return c.taken;
    },
    async confirmationTaken(id: string) {
      check();
      return confirmations.get(id)?.taken ?? null;
    },
    async takeRate(user: string, limit: number, windowMs: number) {
      check();
      const t = now();
      const recent = (hits.get(user) ?? []).filter((x) => t - x < windowMs);
      hits.set(user, recent);
      if (recent.length >= limit) return windowMs - (t - recent[0]!);
      recent.push(t);
      return 0;
    },
  };
  function check() {
    if (self.failing) throw new Error('store unavailable');
  }
  return self;
}

/**
 * `cmd` behind the real router, as the bot runs it: a thrown error (a policy denial from `authorize`, a usage
 * error) is answered and turned into the outcome there, the way every transport sees it.
 */
export function routed<C extends CommandModule>(cmd: C, policy: Policy): C {
  const router = createCommandRouter({ commands: [cmd], policy, logger: createSilentLogger() });
  return { ...cmd, handle: (inv: CommandInvocation) => router.dispatch(inv) };
}

/** moveWrite over an in-memory map of pool rows (key host:port), as the MySQL pool store applies the plan. */
export function memoryMoveWrite(rows: Map<string, PoolNode>) {
  return async (m: WriteMove): Promise<PoolChange[]> =>
    planWriteMove([...rows.values()], m).map((r) => {
      const k = `${r.host}:${r.port}`;
      if (r.after === null) rows.delete(k);
      else rows.set(k, { host: r.host, port: r.port, sock: r.sock, type: r.after });
      return { host: r.host, port: r.port, before: r.before, after: r.after, actor: m.actor, reason: m.reason };
    });
}

/** A change journal in memory, with the store's rule: one running change per cluster. */
export function createMemoryChangeJournal(): ChangeJournal & { rows: TopologyChange[] } {
  const rows: TopologyChange[] = [];
  const find = (id: number) => rows.find((r) => r.id === id) ?? null;
  const touch = (r: TopologyChange, step: string, o: { note?: string; detail?: Record<string, unknown> } = {}) => {
    r.steps.push({ step, at: new Date(), ...(o.note ? { note: o.note } : {}) });
    r.detail = { ...r.detail, ...(o.detail ?? {}) };
    r.updatedAt = new Date();
  };
  return {
    rows,
    async begin(b) {
      const cur = rows.find((r) => r.cluster === b.cluster && r.state === 'running');
      if (cur)
        throw new GearopsError(
          ErrorCode.Conflict,
          `cluster ${b.cluster} has a ${cur.kind} running (#${cur.id} by ${cur.actor}, at step ${cur.step})`,
          { data: { current: structuredClone(cur) } },
        );
      const now = new Date();
      const r: TopologyChange = {
        ...b,
        id: rows.length + 1,
        state: 'running',
        startedAt: now,
        updatedAt: now,
        finishedAt: null,
        steps: [{ step: b.step, at: now }],
        detail: b.detail ?? {},
      };
      rows.push(r);
      return structuredClone(r);
    },
    async step(id, step, o) {
      const r = find(id);
      if (!r) throw new GearopsError(ErrorCode.NotFound, `no topology change #${id}`);
      if (r.state !== 'running') throw new GearopsError(ErrorCode.Conflict, `#${id} is no longer running`);
      touch(r, step, o);
      r.step = step;
    },
    async finish(id, state, o) {
      const r = find(id);
      if (!r) throw new GearopsError(ErrorCode.NotFound, `no topology change #${id}`);
      if (r.state !== 'running') return false;
      touch(r, state, o);
      r.state = state;
      r.finishedAt = new Date();
      return true;
    },
    // Copies, as the store returns fresh rows: a caller that changes what it got changes nothing here.
    running: async (cluster) =>
      structuredClone(rows.find((r) => r.cluster === cluster && r.state === 'running') ?? null),
    get: async (id) => structuredClone(find(id)),
    recent: async (cluster, limit) =>
      structuredClone(
        rows
          .filter((r) => r.cluster === cluster)
          .reverse()
          .slice(0, limit),
      ),
  };
}

/**
 * Store.lock in memory, with MySQL GET_LOCK's rules as the store uses them: a name is held by one lock handle at a
 * time (every `lock()` call is a connection of its own, so two handles of one name exclude each other, in one
 * process or two); the holder's tryAcquire re-checks (true); release by a handle that does not hold it does nothing;
 * `drop(name)` is the holder's connection dying (the name is free again).
 */
export function createMemoryLocks() {
  const holders = new Map<string, object>();
  return {
    holders,
    drop: (name: string) => void holders.delete(name),
    lock(name: string): StoreLock {
      const me = {};
      return {
        get held() {
          return holders.get(name) === me;
        },
        async tryAcquire() {
          const h = holders.get(name);
          if (h && h !== me) return false;
          holders.set(name, me);
          return true;
        },
        async release() {
          if (holders.get(name) === me) holders.delete(name);
        },
      };
    },
  };
}

/** A ChatSink that records each post as text (channel, thread), answers `1.<n>` as its ts, and ignores the rest. */
export function createPostingChat() {
  const posts: Array<{ channel: string; text: string; threadTs?: string }> = [];
  const chat: ChatSink = {
    async post(channel, msg, o) {
      posts.push({ channel, text: renderText(msg), threadTs: o?.threadTs });
      return { channel, ts: `1.${posts.length}` };
    },
    async update() {},
    async upload() {},
  };
  return { chat, posts };
}
