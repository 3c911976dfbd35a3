/**
 * The package as operators and application teams get it: `npm pack` of this checkout, installed with
 * --omit=dev into an empty project (from the npm registry for its dependencies), then used from there only —
 * the CLI, `gearops worker --check` against a real gearmand, and `gearops/pool` from JavaScript and TypeScript.
 * One pack and one install, shared by every test here.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminStatus } from '../../src/gearman/admin.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';

const exec = promisify(execFile);
const ROOT = resolve('.');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** Runs `cmd` in `cwd`; resolves with its exit code and output, never rejects on a non-zero exit. */
async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await exec(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the packed package, installed with --omit=dev into an empty project', () => {
  let dir: string;
  let project: string;
  let files: string[];
  let g: GearmandHandle;
  // The installed command, with an environment that has nothing of this checkout's (no tsx, no secret).
  const gearops = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    sh(join(project, 'node_modules/.bin/gearops'), args, project, {
      GEAROPS_JOB_SECRET: '',
      GEAROPS_POLICY: '',
      NODE_OPTIONS: '',
      ...env,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gearops-pack-'));
    project = join(dir, 'app');
    // `npm pack` runs `prepare`, which builds dist/ from these sources first.
    const packed = await sh('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    files = info[0]!.files.map((f) => f.path);
    await sh('mkdir', ['-p', project], dir);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }),
    );
    const installed = await sh(
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error', join(dir, info[0]!.filename)],
      project,
    );
    expect(installed.code, installed.stderr).toBe(0);
    g = await startGearmand();
  }, 600_000);

  afterAll(async () => {
    await g?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the compiled code, policies, manifest, README and service files, and no tests or sources', () => {
    for (const f of [
      'scripts/gearops.js',
      'dist/src/cli.js',
      'dist/src/pool/index.js',
      'dist/src/pool/index.d.ts',
      'policies/default.yml',
      'manifest.yml',
      'README.md',
      'scripts/systemd/gearops-worker.service',
    ])
      expect(files).toContain(f);
    const unwanted = files.filter(
      (f) => f.startsWith('test/') || f.startsWith('bench/') || /\.ts$/.test(f.replace(/\.d\.ts$/, '')),
    );
    expect(unwanted).toEqual([]);
  });

  it('installs no TypeScript runtime: the installed tool never compiles', () => {
    const req = createRequire(join(project, 'package.json'));
    for (const dev of ['tsx', 'typescript', 'esbuild', 'vitest'])
      expect(() => req.resolve(`${dev}/package.json`)).toThrow();
  });

  it('prints its version', async () => {
    const r = await gearops(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('checks a policy decision with the shipped policy', async () => {
    const policy = join(project, 'node_modules/gearops/policies/default.yml');
    const check = (line: string) =>
      gearops(['policy', 'check', '--policy', policy, '--host', 'db1', '--user', 'U1', '--', line]);
    const allow = await check('uptime');
    expect(allow.code, allow.stderr).toBe(0);
    expect(allow.stdout).toContain('allowed by rule `diagnostics`');
    const deny = await check('rm -rf /');
    expect(deny.code).toBe(1);
    expect(deny.stdout).toMatch(/^deny/);
  });

  it('worker --check lists what it would register and exits 0 when nothing is missing, registering nothing', async () => {
    const policy = join(dir, 'policy.yml');
    writeFileSync(policy, 'version: 1\ncommands:\n  - rule: diag\n    allow: [uptime, hostname]\n');
    const r = await gearops(
      ['worker', '--check', '--host', 'x', '--gearman', g.address, '--policy', policy, '--state-dir', join(dir, 's')],
      { GEAROPS_JOB_SECRET: 'a-secret-of-sixteen-or-more' },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('run@x');
    expect(r.stdout).toContain('gearops.info@x');
    expect(r.stdout).toContain('nothing missing');
    expect((await adminStatus(g.address)).filter((f) => f.fn.endsWith('@x'))).toEqual([]);
  });

  it('worker --check names what is missing and exits non-zero', async () => {
    const policy = join(dir, 'missing.yml');
    writeFileSync(policy, 'version: 1\ncommands:\n  - rule: diag\n    allow: [uptime, no-such-tool-here]\n');
    const r = await gearops(['worker', '--check', '--host', 'x', '--gearman', '127.0.0.1:1', '--policy', policy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('GEAROPS_JOB_SECRET is not set');
    expect(r.stdout).toContain('no-such-tool-here');
    expect(r.stdout).toMatch(/127\.0\.0\.1:1.*start gearmand there or fix --gearman/);
  });

  it("gives plain JavaScript the pool reader through 'gearops/pool'", async () => {
    writeFileSync(
      join(project, 'pick.mjs'),
      [
        "import { createPoolReader } from 'gearops/pool';",
        'const rows = [{ host: "db2", port: 3306, sock: "", type: ["READ"] }];',
        'const pool = createPoolReader({ source: { read: async () => rows, close: async () => {} } });',
        'const s = await pool.pickServer("READ");',
        'await pool.close();',
        'console.log(`${s.host}:${s.port}`);',
      ].join('\n'),
    );
    const r = await sh(process.execPath, ['pick.mjs'], project, { NODE_OPTIONS: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('db2:3306');
    // Only the public entry points: internals stay private.
    const internal = await sh(process.execPath, ['-e', "import('gearops/dist/src/cli.js')"], project);
    expect(internal.code).not.toBe(0);
    expect(internal.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it("gives TypeScript the pool reader's types: right use compiles, wrong use does not", async () => {
    // One compiler run over two files: errors must come from the wrong one only.
    writeFileSync(
      join(project, 'good.ts'),
      [
        "import { createPoolReader, type PickedServer } from 'gearops/pool';",
        "const pool = createPoolReader({ url: 'mysql://app:secret@db:3306/common', refreshMs: 5000 });",
        "const s: PickedServer = await pool.pickServer('READ');",
        'const port: number = s.port;',
        'export { port };',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'bad.ts'),
      [
        "import { createPoolReader } from 'gearops/pool';",
        "const pool = createPoolReader({ url: 'mysql://db/common' });",
        "await pool.pickServer('BOGUS');",
        'export {};',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
        },
        files: ['good.ts', 'bad.ts'],
      }),
    );
    const r = await sh(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
      project,
    );
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(r.code).not.toBe(0);
    expect(errors.length, r.stdout).toBeGreaterThan(0);
    expect(
      errors.every((l) => l.startsWith('bad.ts(3,')),
      r.stdout,
    ).toBe(true);
    expect(r.stdout).toContain('BOGUS');
  }, 240_000);
});
