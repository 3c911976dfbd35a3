/**
 * Changing the policy without a restart: the operator edits the file and
 * sends SIGHUP to the bot and the workers. Over HTTP with a real gearmand,
 * worker process and store: a command denied before the reload runs after
 * it; a broken file leaves the rules in force and says why.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postSlashCommand, SIGNING_SECRET, startHttpBotStack, type HttpBotStack } from './slack-harness.js';
import { until } from '../helpers/wait.js';

const rules = (allow: string[]) =>
  `version: 1\ncommands:\n  - rule: diag\n    allow:\n${allow.map((a) => `      - ${a}\n`).join('')}`;

describe('policy reload (SIGHUP) in the bot and the worker', () => {
  let stack: HttpBotStack;
  let n = 0;
  const policyFile = () => `${stack.dir}/policy.yml`;
  const run = async (text: string) => {
    const trigger = `reload-${++n}`;
    const r = await postSlashCommand(stack.base, SIGNING_SECRET, {
      command: '/run',
      text,
      channel_id: 'C1',
      user_id: 'U1',
      user_name: 'alice',
      response_url: `http://hooks.test/respond/${trigger}`,
      trigger_id: trigger,
    });
    expect(r.status).toBe(200);
    let row:
      Awaited<ReturnType<NonNullable<HttpBotStack['bot']['ctx']['store']>['audit']['recent']>>[number] | undefined;
    await until(
      async () =>
        (row = (await stack.bot.ctx.store!.audit.recent(100)).find((a) => a.requestId === trigger)) !== undefined,
      20_000,
    );
    return row!;
  };
  const workerSays = (event: string, after: number) => stack.worker!.logs().slice(after).includes(`"event":"${event}"`);

  beforeAll(async () => {
    stack = await startHttpBotStack({ policy: { yaml: rules(['uptime']) }, workerHost: 'server1' });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('denies a command the file does not allow, then runs it once both have read the edited file', async () => {
    expect(await run('server1 hostname')).toMatchObject({ decision: 'deny', status: 'denied' });
    writeFileSync(policyFile(), rules(['uptime', 'hostname']));
    // The bot alone: the worker still has the old rules and refuses (both sides check every job).
    expect(stack.bot.reloadPolicy()).toEqual({ ok: true, message: `policy reloaded from ${policyFile()}` });
    const workerOnly = await run('server1 hostname');
    expect(workerOnly.status).toBe('denied');
    expect(workerOnly.jobHandle).toBeTruthy();
    expect(workerOnly.summary).toMatch(/^worker server1 policy: `hostname` is not in any rule/);
    const mark = stack.worker!.logs().length;
    stack.worker!.child.kill('SIGHUP');
    await until(() => workerSays('policy_reloaded', mark));
    expect(await run('server1 hostname')).toMatchObject({ decision: 'allow', status: 'ok', exitCode: 0 });
  });

  it('keeps the rules in force when the edited file is broken, and says which line', async () => {
    writeFileSync(policyFile(), `${rules(['uptime'])}  - rule: typo\n    allwo: [id]\n`);
    const r = stack.bot.reloadPolicy();
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/previous rules stay in force: .*policy\.yml:\d+/);
    const mark = stack.worker!.logs().length;
    stack.worker!.child.kill('SIGHUP');
    await until(() => workerSays('policy_reload_failed', mark));
    // hostname was allowed by the last good file, on both sides.
    expect(await run('server1 hostname')).toMatchObject({ decision: 'allow', status: 'ok' });
  });
});
