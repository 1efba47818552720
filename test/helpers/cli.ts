// Run the real built CLI as a child process: `bin/groot`, the launcher operators run, on
// the bundle in dist/bundle/ (with this test's node).
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mountTable, umount, MNT_DETACH } from '../../src/sys/index.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GROOT_BIN = join(REPO, 'bin', 'groot');

export interface CliResult { code: number; stdout: string; stderr: string }

export function groot(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const env = { ...process.env };
  delete env.GROOT_LOG_LEVEL; // the CLI's own default (warn) unless a test says otherwise
  return new Promise((resolve, reject) => {
    execFile(GROOT_BIN, args, {
      env: { ...env, GROOT_NODE: process.execPath, ...opts.env },
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 << 20,
    }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err); // spawn failure or timeout
      resolve({ code: err ? (err.code as number) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Unmount everything at or below dir (deepest first), then remove it. For afterAll. */
export async function removeWithMounts(dir: string): Promise<void> {
  const mounts = (await mountTable())
    .filter((m) => m.mountpoint === dir || m.mountpoint.startsWith(dir + '/'))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length);
  for (const m of mounts) {
    try { umount(m.mountpoint, MNT_DETACH); } catch { /* already gone */ }
  }
  await rm(dir, { recursive: true, force: true });
}
