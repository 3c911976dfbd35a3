/** gearmand's plain-text admin protocol on the job port: `status`, `workers` and `getpid`. */
import { connect } from 'node:net';
import { parseServer } from './protocol.js';
import { toGearmanError } from './errors.js';

/** One line of `status`. */
export interface FunctionStatus {
  fn: string;
  total: number;
  running: number;
  availableWorkers: number;
}

/** One line of `workers`. */
export interface WorkerInfo {
  fd: string;
  ip: string;
  clientId: string;
  functions: string[];
}

/** Sends one admin command and resolves with the lines before the closing `.` (one line for `getpid`). */
export function adminCommand(
  server: string,
  command: 'status' | 'workers' | 'getpid',
  opts: { timeoutMs?: number } = {},
): Promise<string[]> {
  const oneLine = command === 'getpid';
  const { host, port } = parseServer(server);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.setNoDelay(true);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(toGearmanError(new Error(`admin ${command} timed out`), server));
    }, opts.timeoutMs ?? 2000);
    s.on('connect', () => s.write(`${command}\n`));
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const lines = buf.split('\n');
      const end = oneLine ? (lines.length > 1 ? 1 : -1) : lines.indexOf('.');
      if (end >= 0) {
        clearTimeout(timer);
        s.end();
        resolve(lines.slice(0, end).filter((l) => l.length > 0));
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(toGearmanError(err, server));
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(toGearmanError(new Error('connection closed before the answer ended'), server));
    });
  });
}

/** `status`: FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS per line. */
export async function adminStatus(server: string, opts: { timeoutMs?: number } = {}): Promise<FunctionStatus[]> {
  return (await adminCommand(server, 'status', opts)).map((l) => {
    const [fn = '', total = '0', running = '0', avail = '0'] = l.split('\t');
    return { fn, total: Number(total), running: Number(running), availableWorkers: Number(avail) };
  });
}

/** `workers`: "FD IP CLIENT_ID : FUNCTION …" per line. */
export async function adminWorkers(server: string, opts: { timeoutMs?: number } = {}): Promise<WorkerInfo[]> {
  return (await adminCommand(server, 'workers', opts)).map((l) => {
    const [head = '', fns = ''] = l.split(' : ');
    const [fd = '', ip = '', clientId = '-'] = head.trim().split(/\s+/);
    return { fd, ip, clientId, functions: fns.trim() ? fns.trim().split(/\s+/) : [] };
  });
}

/**
 * `getpid`: the job server's process id ("OK 1234"). Part of what tells one gearmand instance from the next
 * on the same address: a restarted gearmand numbers its job handles from 1 again.
 */
export async function adminGetpid(server: string, opts: { timeoutMs?: number } = {}): Promise<number> {
  const [line = ''] = await adminCommand(server, 'getpid', opts);
  const m = /^OK (\d{1,10})\s*$/.exec(line);
  if (!m) throw toGearmanError(new Error(`getpid answered ${JSON.stringify(line.slice(0, 80))}`), server);
  return Number(m[1]);
}
