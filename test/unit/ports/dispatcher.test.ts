/**
 * The Dispatcher contract against the fake dispatcher of test/unit/fakes/dispatcher.ts, its server1 answering `run`
 * as the worker does under the suite's policy; test/integration/dispatcher-conformance.test.ts runs the same suite
 * on gearmand and a worker process.
 */
import type { RunValue } from '../../../src/core/capabilities.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { createFakeDispatcher, type FakeHandler } from '../fakes/dispatcher.js';
import { describeDispatcherConformance } from './dispatcher-conformance.js';

const run: FakeHandler = async (args, job) => {
  const line = (args as { line: string }).line;
  if (line.includes(';'))
    throw new GearopsError(
      ErrorCode.PolicyDenied,
      `worker ${job.host} policy: \`;\` is not allowed: commands run without a shell`,
    );
  const sleep = /^sleep (\d+)$/.exec(line);
  if (sleep)
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Number(sleep[1]) * 1000);
      job.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  const output = line === 'uptime' ? ' 10:00:00 up 1 day,  load average: 0.10, 0.05, 0.01\n' : '';
  if (output) job.emit({ type: 'output', stream: 'stdout', text: output });
  const value: RunValue = {
    exitCode: 0,
    signal: null,
    timedOut: false,
    truncated: false,
    outputBytes: Buffer.byteLength(output),
    output,
    durationMs: 1,
    rule: 'diag',
  };
  return value;
};

describeDispatcherConformance('fake dispatcher (test/unit/fakes/dispatcher.ts)', async () => {
  const dispatcher = createFakeDispatcher({ server1: { run } });
  return {
    dispatcher,
    down: async () => void (dispatcher.down = true),
    close: () => dispatcher.close(),
  };
});
