// manifests/ and examples/: the DaemonSet's shape, RBAC that is exactly what the controller
// uses (checked against the requests it makes), and example objects that validate.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Controller } from '../../src/controller/controller.js';
import { validateObject, type GrootObject } from '../../src/api/index.js';
import { resolveRelativeSource } from '../../src/controller/source-dropins.js';
import { FakeEngine } from '../helpers/controller-fake-engine.js';
import { kubeHarness } from '../helpers/controller-source-harness.js';
import { waitFor } from '../helpers/controller-wait.js';
import { REPO } from '../helpers/cli.js';

type Obj = Record<string, any>;
async function docs(dir: string): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const f of (await readdir(dir)).filter((x) => /\.ya?ml$/.test(x)).sort()) {
    for (const d of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
      expect(d.errors).toEqual([]);
      const v = d.toJS();
      if (v) out.push({ ...v, __file: f });
    }
  }
  return out;
}

describe('manifests', () => {
  test('DaemonSet: privileged, store hostPath with Bidirectional propagation, node name from the downward API, probes on the served paths', async () => {
    const all = await docs(join(REPO, 'manifests'));
    const ds = all.find((d) => d.kind === 'DaemonSet')!;
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(c.securityContext.privileged).toBe(true);
    const storeMount = c.volumeMounts.find((m: Obj) => m.mountPath === '/var/lib/groot');
    expect(storeMount.mountPropagation).toBe('Bidirectional');
    expect(pod.volumes.find((v: Obj) => v.name === storeMount.name).hostPath.path).toBe('/var/lib/groot');
    expect(c.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(c.args).toEqual(expect.arrayContaining(['controller', '--kube', '--node=$(NODE_NAME)', '--store=/var/lib/groot']));
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    const sa = all.find((d) => d.kind === 'ServiceAccount')!;
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(ds.metadata.namespace).toBe(sa.metadata.namespace);
    const crb = all.find((d) => d.kind === 'ClusterRoleBinding')!;
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(c.args.find((a: string) => a.startsWith('--shutdown-timeout=')).split('=')[1]));
  });

  test('RBAC allows exactly the requests the controller makes', async () => {
    const all = await docs(join(REPO, 'manifests'));
    const role = all.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'groot-controller')!;
    const creds = all.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'groot-registry-credentials')!;
    const credsBinding = all.find((d) => d.kind === 'RoleBinding' && d.roleRef.name === 'groot-registry-credentials')!;

    const h = await kubeHarness();
    try {
      const labels = { 'groot.dev/node': 'node-a' };
      const config = Buffer.from(JSON.stringify({ auths: {} })).toString('base64');
      h.api.create('', 'secrets', { metadata: { name: 'creds', namespace: 'default' }, data: { '.dockerconfigjson': config } });
      h.api.create('groot.dev', 'images', { metadata: { name: 'base', labels }, spec: { source: 'docker://registry.example/img', credentialsSecretRef: { name: 'creds' } } });
      h.api.create('groot.dev', 'rootfses', { metadata: { name: 'app', labels }, spec: { image: 'base' } });
      const engine = new FakeEngine(h.storePath);
      engine.images.set('docker://registry.example/img', { digest: 'sha256:' + '1'.repeat(64), layers: 1, size: 1 });
      const ctl = new Controller({ engine, source: h.make(), settings: { usageMs: 60_000 } });
      await ctl.start();
      try {
        await waitFor('ready', () => h.api.get('groot.dev', 'rootfses', 'default', 'app')?.status?.conditions?.[0]?.status === 'True');
        h.api.delete('groot.dev', 'rootfses', 'default', 'app');
        await waitFor('deleted', () => !h.api.get('groot.dev', 'rootfses', 'default', 'app'));
        h.api.update('groot.dev', 'images', 'default', 'base', (o) => ({ ...o, spec: { ...o.spec, pullPolicy: 'Always' } }));
        await waitFor('repulled', () => engine.count('pull') >= 2);
        await waitFor('repeat event patched', () => h.api.requests.some((r) => r.method === 'PATCH' && r.path.includes('/events/')), 3000);
      } finally {
        await ctl.stop(500);
      }
      const used = new Set<string>();
      for (const r of h.api.requests) {
        const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(r.path);
        if (!m) continue; // discovery
        const [, group = '', ns, resource, name, sub] = m;
        const verb = r.method === 'GET' ? (r.query.includes('watch=true') ? 'watch' : name ? 'get' : 'list') : { POST: 'create', PATCH: 'patch', PUT: 'update', DELETE: 'delete' }[r.method]!;
        const res = sub ? `${resource}/${sub}` : resource!;
        const allowedBy = (rules: Obj[]) => rules.some((x) => x.apiGroups.includes(group) && x.resources.includes(res) && x.verbs.includes(verb));
        const ok = allowedBy(role.rules) || (allowedBy(creds.rules) && ns === credsBinding.metadata.namespace);
        expect([r.method, r.path, ok]).toEqual([r.method, r.path, true]);
        used.add(`${group}|${res}|${verb}`);
      }
      // Nothing granted that is never used.
      for (const rule of [...role.rules, ...creds.rules]) for (const g of rule.apiGroups) for (const res of rule.resources) for (const v of rule.verbs) {
        expect([`${g}|${res}|${v}`, used.has(`${g}|${res}|${v}`)]).toEqual([`${g}|${res}|${v}`, true]);
      }
    } finally {
      await h.close();
    }
  });

  test('example objects pass the CRD schema and groot validation', async () => {
    const h = await kubeHarness();
    try {
      for (const d of await docs(join(REPO, 'manifests', 'examples'))) {
        const { __file, ...obj } = d;
        expect([__file, validateObject(obj as GrootObject)]).toEqual([__file, []]);
        h.api.create('groot.dev', obj.kind === 'Image' ? 'images' : 'rootfses', obj);
      }
    } finally {
      await h.close();
    }
  });

  test('example drop-ins validate once relative sources are resolved', async () => {
    const dir = join(REPO, 'examples', 'dropins');
    const all = await docs(dir);
    expect(all.find((d) => d.kind === 'Image')!.spec.source).toBe('oci:../busybox:latest'); // a local layout: no network
    expect(all.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['Image/busybox', 'RootFS/hello', 'RootFS/hello-unmounted']);
    for (const d of all) {
      const { __file, ...obj } = d;
      if (obj.kind === 'Image') obj.spec.source = resolveRelativeSource(obj.spec.source, dir);
      expect(validateObject(obj as GrootObject)).toEqual([]);
    }
  });
});
