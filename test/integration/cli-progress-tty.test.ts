// The pull progress display on a real terminal: `groot pull` inside tmux, then the screen
// is read back. The block must be redrawn in place (one heading, one total line), and the
// JSON result still lands on stdout.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayoutBuilder } from '../helpers/oci.js';
import { GROOT_BIN, groot, removeWithMounts } from '../helpers/cli.js';

const socket = `groot-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'groot-cli-tty-'));
});
afterAll(async () => {
  try { tmux('kill-server'); } catch { /* not running */ }
  await groot(['--store', join(dir, 'store'), 'delete-store']).catch(() => undefined);
  await removeWithMounts(dir);
});

test('pull on a TTY draws per-layer progress in place', async () => {
  const layout = join(dir, 'layout');
  const b = new OciLayoutBuilder(layout);
  // Incompressible layers, so there are bytes to count.
  await b.image({ tag: 'v1', compression: 'gzip', layers: [1, 2, 3].map((i) => [{ name: `blob${i}`, content: randomBytes(3 * 1024 * 1024) }]) });
  await b.finish();
  const store = join(dir, 'store');
  expect((await groot(['--store', store, 'init-store'])).code).toBe(0);

  const cmd = `GROOT_NODE=${process.execPath} ${GROOT_BIN} --store ${store} pull oci://${layout}:v1; echo EXIT=$?; sleep 60`;
  tmux('new-session', '-d', '-s', 'pull', '-x', '120', '-y', '40', cmd);
  let screen = '';
  for (let i = 0; i < 300 && !/EXIT=\d+/.test(screen); i++) {
    await new Promise((r) => setTimeout(r, 100));
    screen = tmux('capture-pane', '-p', '-J', '-t', 'pull'); // -J: join lines the terminal wrapped
  }
  const lines = screen.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  expect(screen).toMatch(/EXIT=0/);
  expect(lines.filter((l) => l.startsWith('Pulling '))).toEqual([`Pulling oci://${layout}:v1`]);
  const totals = lines.filter((l) => l.startsWith('  total'));
  expect(totals).toHaveLength(1);
  expect(totals[0]).toMatch(/^ {2}total {2}3\/3 layers {2}9\.\d+ MiB \/ 9\.\d+ MiB 100%$/);
  const layerLines = lines.filter((l) => /^ {2}[0-9a-f]{12} {2}/.test(l));
  expect(layerLines).toHaveLength(3);
  for (const l of layerLines) expect(l).toMatch(/ done {5}/);
  const result = lines.find((l) => l.startsWith('{'));
  expect(JSON.parse(result!)).toMatchObject({ layers: 3 });
  for (const l of lines.filter((x) => !x.startsWith('{'))) expect(l.length).toBeLessThan(120); // progress never wraps
});
