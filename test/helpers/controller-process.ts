// `groot controller` as a child process (the built CLI), with its stderr log parsed.
import { spawn, type ChildProcess } from 'node:child_process';
import { GROOT_BIN } from './cli.js';
import { waitFor } from './controller-wait.js';

export interface ControllerProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  url: () => Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startController(args: string[], env: NodeJS.ProcessEnv = {}): ControllerProcess {
  const child = spawn(GROOT_BIN, ['--log-level', 'info', ...args], { env: { ...process.env, GROOT_NODE: process.execPath, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    raw += d.toString();
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      try { logs.push(JSON.parse(line)); } catch { /* not JSON */ }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return {
    child, logs, exited,
    stderr: () => raw,
    url: () => waitFor('controller metrics URL in its log', () => logs.find((l) => l.msg === 'controller started' && l.metrics)?.metrics as string | undefined, 20_000),
    kill: async (signal = 'SIGTERM') => { if (child.exitCode === null && child.signalCode === null) child.kill(signal); return exited; },
  };
}
