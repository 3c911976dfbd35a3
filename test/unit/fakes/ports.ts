/** Fakes of the ports, for unit tests of the code above them (commands, router). */
import type { ChatFile, ChatMessage } from '../../../src/core/message.js';
import { renderText } from '../../../src/core/message.js';
import type { MessageRef, Reply } from '../../../src/core/ports/chat.js';
import type { Decision, Policy, PolicyAction, RunDecision } from '../../../src/core/ports/policy.js';
import type { AuditEntry, AuditRow, AuditStore } from '../../../src/core/ports/store.js';

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
    settings: { autoOffline: false },
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

/** An audit store in memory. */
export function createMemoryAudit(): AuditStore & { rows: AuditEntry[] } {
  const rows: AuditEntry[] = [];
  return {
    rows,
    async record(e) {
      rows.push(e);
    },
    async recent(limit): Promise<AuditRow[]> {
      return rows.slice(-limit).map((r, i) => ({ ...r, id: i + 1, at: new Date() }));
    },
  };
}
