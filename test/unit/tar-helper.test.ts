import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tar } from '../helpers/tar.js';

test('the fixture tar writer produces archives GNU tar reads, long names included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tarh-'));
  try {
    const long = 'd/' + 'x'.repeat(150) + '/ü.txt';
    writeFileSync(join(dir, 'a.tar'), tar([{ name: 'd/', type: 'dir' }, { name: long, content: 'hi' }, { name: 'l', type: 'symlink', linkname: 'd' }]));
    const out = execFileSync('tar', ['-tvf', join(dir, 'a.tar')]).toString();
    expect(out).toContain(long);
    expect(out).toMatch(/l -> d/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
