// Runs hack/vm/xfs-quota-test.sh (XFS + ext4 project quotas and the engine on XFS, inside a
// qemu VM, since this machine's kernel has no XFS/ext4 quota) when GROOT_VM_TESTS=1. It takes
// about 1-2 minutes with a warm cache (.cache/vm), more the first time (kernel download).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const enabled = process.env.GROOT_VM_TESTS === '1' && process.getuid?.() === 0;
const maybe = enabled ? test : test.skip;

maybe('the XFS/ext4 project-quota suite passes in the VM', () => {
  const script = join(process.cwd(), 'hack', 'vm', 'xfs-quota-test.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  const out = `${r.stdout}\n${r.stderr}`.replace(/\r/g, '');
  if (r.status !== 0) console.log(out.slice(-8000));
  expect(out).toMatch(/^\d+ passed, 0 failed$/m);
  expect(out).not.toMatch(/^not ok - /m);
  expect(r.status).toBe(0);
}, 21 * 60_000);
