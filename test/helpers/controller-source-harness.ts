// One harness per Source implementation, so one conformance suite can drive both:
// put/remove objects the way a user would (a file; an API call), break and heal the
// source, and read back the status where a user would look.
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { PLURAL, type Kind } from '../../src/api/index.js';
import { DropinSource } from '../../src/controller/source-dropins.js';
import { KubeSource, loadKubeClient } from '../../src/controller/source-kube.js';
import { StatusFiles } from '../../src/controller/status-files.js';
import type { Source } from '../../src/controller/source.js';
import { FakeApiServer } from './fake-apiserver.js';

export interface Plain { kind: Kind; name: string; namespace?: string; labels?: Record<string, string>; spec: Record<string, unknown> }

export interface SourceHarness {
  readonly name: 'dropins' | 'kube';
  readonly storePath: string;
  readonly node: string;
  /** A new Source on the same backend (a restart). */
  make(): Source;
  put(o: Plain): Promise<void>;
  remove(kind: Kind, name: string, namespace?: string): Promise<void>;
  /** Make the source unreadable (drop-in dir gone; API server failing and watches cut). */
  breakSource(): Promise<void>;
  healSource(): Promise<void>;
  readStatus(kind: Kind, name: string, namespace?: string): Promise<Record<string, unknown> | undefined>;
  /** Change only the status, as a controller would (must not look like a spec change). */
  touchStatus(kind: Kind, name: string): Promise<void>;
  close(): Promise<void>;
}

const manifest = (o: Plain, node: string) => ({
  apiVersion: 'groot.dev/v1alpha1', kind: o.kind,
  metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: o.labels ?? { 'groot.dev/node': node } },
  spec: o.spec,
});

export async function dropinHarness(node = 'node-a'): Promise<SourceHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'groot-src-'));
  const dropins = join(dir, 'dropins');
  const storePath = join(dir, 'store');
  await mkdir(dropins); await mkdir(storePath);
  const files = new StatusFiles(storePath);
  const fileOf = (kind: Kind, name: string, ns = 'default') => join(dropins, `${ns}-${kind.toLowerCase()}-${name}.yaml`);
  return {
    name: 'dropins', storePath, node,
    make: () => new DropinSource({ dir: dropins, node, storePath, rescanMs: 300 }),
    put: async (o) => writeFile(fileOf(o.kind, o.name, o.namespace), stringify(manifest(o, node))),
    remove: async (kind, name, ns) => rm(fileOf(kind, name, ns)),
    breakSource: () => rename(dropins, `${dropins}.away`),
    healSource: () => rename(`${dropins}.away`, dropins),
    readStatus: async (kind, name, ns = 'default') => (await files.readObject(kind, ns, name))?.status as Record<string, unknown> | undefined,
    touchStatus: async () => {},
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function kubeHarness(node = 'node-a'): Promise<SourceHarness & { api: FakeApiServer; kubeconfig: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'groot-src-'));
  const storePath = join(dir, 'store');
  await mkdir(storePath);
  const api = new FakeApiServer();
  await api.start();
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  await loadKubeClient();
  return {
    name: 'kube', storePath, node, api, kubeconfig,
    make: () => new KubeSource(kc, { node, resyncMs: 60_000, watchTimeoutSeconds: 30, backoffInitialMs: 50, backoffMaxMs: 300 }),
    put: async (o) => {
      const m = manifest(o, node);
      const ns = o.namespace ?? 'default';
      if (api.get('groot.dev', PLURAL[o.kind], ns, o.name)) api.update('groot.dev', PLURAL[o.kind], ns, o.name, (cur) => ({ ...cur, metadata: { ...cur.metadata, labels: m.metadata.labels }, spec: m.spec }));
      else api.create('groot.dev', PLURAL[o.kind], m);
    },
    remove: async (kind, name, ns = 'default') => api.delete('groot.dev', PLURAL[kind], ns, name),
    breakSource: async () => { api.failRequests(1_000_000, 503); api.dropWatches(); },
    healSource: async () => { api.failRequests(0); },
    readStatus: async (kind, name, ns = 'default') => api.get('groot.dev', PLURAL[kind], ns, name)?.status,
    touchStatus: async (kind, name) => { api.updateStatus('groot.dev', PLURAL[kind], 'default', name, { observedGeneration: 99 }); },
    close: async () => { await api.stop(); await rm(dir, { recursive: true, force: true }); },
  };
}

export const HARNESSES: [string, () => Promise<SourceHarness>][] = [['dropins', () => dropinHarness()], ['kube', () => kubeHarness()]];
