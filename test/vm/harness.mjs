// A tiny test harness for the VM suites (jest is too heavy under software emulation): one
// "ok"/"not ok" line per test and a closing "N passed, N failed" line.
import { open } from 'node:fs/promises';

export const MiB = 1024 * 1024;
const counts = { passed: 0, failed: 0 };

export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    counts.passed++;
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
    return true;
  } catch (e) {
    counts.failed++;
    console.log(`not ok - ${name}: ${e?.stack ?? e}`);
    return false;
  }
}

export function summary(extraFailures = 0) {
  console.log(`${counts.passed} passed, ${counts.failed + extraFailures} failed`);
  return counts.failed + extraFailures === 0 && counts.passed > 0;
}

/** Write `total` bytes in 1 MiB chunks as this process; the bytes written and the error that stopped it. */
export async function writeUpTo(path, total) {
  let fh;
  try { fh = await open(path, 'w'); } catch (e) { return { written: 0, error: e }; } // XFS: ENOSPC at create when full
  const chunk = Buffer.alloc(MiB, 0x61);
  let written = 0;
  try {
    while (written < total) written += (await fh.write(chunk, 0, Math.min(MiB, total - written))).bytesWritten;
    await fh.sync();
  } catch (e) {
    return { written, error: e };
  } finally {
    await fh.close().catch(() => undefined);
  }
  return { written };
}

/** Node 20 has no name for EDQUOT ("Unknown system error -122"); XFS says ENOSPC for projects. */
export const refused = (e) => !!e && (e.code === 'EDQUOT' || e.code === 'ENOSPC' || e.errno === -122 || e.errno === -28);
