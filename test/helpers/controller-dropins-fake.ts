// A controller over a fresh drop-in directory and the fake engine, made anew for each test
// of the describe block that calls useDropinController (it registers its own hooks).
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/controller/controller.js';
import { DropinSource } from '../../src/controller/source-dropins.js';
import { StatusFiles } from '../../src/controller/status-files.js';
import { configureLogging } from '../../src/log/index.js';
import { getCondition, type GrootObject, type RootFSStatus } from '../../src/api/index.js';
import type { Change } from '../../src/controller/source.js';
import { FakeEngine } from './controller-fake-engine.js';
import { waitFor } from './controller-wait.js';

/** Drop-in YAML of the Image `base` and of a RootFS over it (`extra`: more spec fields, ", key: value"). */
export const IMAGE_YAML = `apiVersion: groot.dev/v1alpha1
kind: Image
metadata: {name: base}
spec: {source: "oci:///img:v1"}
`;
export const rootfsYaml = (name: string, extra = '') => `apiVersion: groot.dev/v1alpha1
kind: RootFS
metadata: {name: ${name}}
spec: {image: base${extra}}
`;

/** The warn-level records of a log file (none when it does not exist). */
export async function warningsIn(logFile: string): Promise<{ level: number; msg: string; file?: string }[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; file?: string }).filter((l) => l.level === 40);
}

export interface DropinController {
  dir: string;
  dropins: string;
  store: string;
  engine: FakeEngine;
  files: StatusFiles;
  /** Start a controller (again) over the same directory and store. */
  start(): Promise<void>;
  /** Stop the running controller (the store stays as it is). */
  stop(): Promise<void>;
  /** Wait until the running controller has no work queued or in flight. */
  whenIdle(): Promise<void>;
  /** Whether the RootFS's status file says Ready=True. */
  ready(name: string): Promise<boolean>;
}

/** The engine knows `oci:///img:v1`. Stops the controller and removes everything after each test. */
export function useDropinController(prefix: string): DropinController {
  let ctl: Controller | undefined;
  const h = {
    async start() {
      await ctl?.stop(1000);
      ctl = new Controller({ engine: h.engine, source: new DropinSource({ dir: h.dropins, node: 'n1', storePath: h.store, rescanMs: 200 }), settings: { usageMs: 100, progressMs: 0 }, queue: { baseDelayMs: 10, maxDelayMs: 100 } });
      await ctl.start();
      await waitFor('ready', () => ctl!.ready());
    },
    async stop() { await ctl?.stop(1000); ctl = undefined; },
    async whenIdle() { await ctl!.whenIdle(); },
    async ready(name: string) {
      const o = (await h.files.readObject('RootFS', 'default', name)) as GrootObject | undefined;
      return getCondition(o?.status?.conditions as RootFSStatus['conditions'], 'Ready')?.status === 'True';
    },
  } as DropinController;
  beforeEach(async () => {
    h.dir = await mkdtemp(join(tmpdir(), prefix));
    h.dropins = join(h.dir, 'dropins'); h.store = join(h.dir, 'store');
    await mkdir(h.dropins); await mkdir(h.store);
    configureLogging({ level: 'warn', file: join(h.dir, 'log') });
    h.engine = new FakeEngine(h.store);
    h.engine.images.set('oci:///img:v1', { digest: 'sha256:' + 'a'.repeat(64), layers: 1, size: 10 });
    h.files = new StatusFiles(h.store);
  });
  afterEach(async () => {
    await ctl?.stop(1000); ctl = undefined;
    configureLogging({ level: 'warn' });
    await rm(h.dir, { recursive: true, force: true });
  });
  return h;
}

export interface DropinSourceHarness {
  dir: string;
  dropins: string;
  store: string;
  logFile: string;
  files: StatusFiles;
  /** Changes the running source reported since it was (re)started. */
  changes: Change[];
  /** Start a source (again) over the same directory and store; resolves once it synced. */
  start(): Promise<DropinSource>;
  /** Stop the running source. */
  stop(): Promise<void>;
}

/** A drop-in source alone (no controller), fresh for each test; logs at info to `logFile`. */
export function useDropinSource(prefix: string): DropinSourceHarness {
  let src: DropinSource | undefined;
  const h = {
    changes: [] as Change[],
    async start() {
      await src?.stop();
      src = new DropinSource({ dir: h.dropins, node: 'n1', storePath: h.store, rescanMs: 100, debounceMs: 10 });
      h.changes = [];
      await src.start((c) => h.changes.push(c));
      expect(await src.waitForSync(5000)).toBe(true);
      return src;
    },
    async stop() { await src?.stop(); src = undefined; },
  } as DropinSourceHarness;
  beforeEach(async () => {
    h.dir = await mkdtemp(join(tmpdir(), prefix));
    h.dropins = join(h.dir, 'dropins'); h.store = join(h.dir, 'store'); h.logFile = join(h.dir, 'log');
    await mkdir(h.dropins); await mkdir(h.store);
    configureLogging({ level: 'info', file: h.logFile });
    h.files = new StatusFiles(h.store);
  });
  afterEach(async () => {
    await h.stop();
    configureLogging({ level: 'warn' });
    await rm(h.dir, { recursive: true, force: true });
  });
  return h;
}
