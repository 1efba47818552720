import { formatErrors, identify, imageRefKind, validateObject, withDefaults, setCondition, getCondition, evalJsonPath, humanDuration, type GrootObject } from '../../src/api/index.js';

const rootfs = (spec: unknown, md: Record<string, unknown> = { name: 'app' }) => ({ apiVersion: 'groot.dev/v1alpha1', kind: 'RootFS', metadata: md, spec }) as unknown as GrootObject;
const image = (spec: unknown) => ({ apiVersion: 'groot.dev/v1alpha1', kind: 'Image', metadata: { name: 'img' }, spec }) as unknown as GrootObject;

describe('validation', () => {
  test('errors name the field and the object', () => {
    const errs = validateObject(rootfs({ image: 'base', diskLimitBytes: -1 }));
    expect(errs).toEqual([{ field: 'spec.diskLimitBytes', message: 'must be >= 0' }]);
    expect(formatErrors({ kind: 'RootFS', namespace: 'default', name: 'app' }, errs, '/d/app.yaml')).toBe('RootFS default/app (file /d/app.yaml): spec.diskLimitBytes: must be >= 0');
  });

  test.each([
    [rootfs({}), 'spec.image'],
    [rootfs({ image: 'Bad Name' }), 'spec.image'],
    [rootfs({ image: 'base', mount: 'yes' }), 'spec.mount'],
    [rootfs({ image: 'base', diskLimitBytes: 1.5 }), 'spec.diskLimitBytes'],
    [rootfs({ image: 'base', diskLimtBytes: 5 }), 'spec.diskLimtBytes'],
    [rootfs({ image: 'base', uidMappings: [{ containerID: 0, hostID: 1000 }] }), 'spec.uidMappings[0].size'],
    [rootfs({ image: 'docker://Upper/Case' }), 'spec.image'],
    [image({ source: 'http://x/y.tar' }), 'spec.source'],
    [image({ source: 'oci:relative/path' }), 'spec.source'],
    [image({ source: 'docker://busybox', pullPolicy: 'Never' }), 'spec.pullPolicy'],
    [image({ source: 'docker://busybox', platform: 'amd64' }), 'spec.platform'],
    [image({ source: 'docker://busybox', credentialsSecretRef: {} }), 'spec.credentialsSecretRef.name'],
    [rootfs({ image: 'base' }, { name: 'UPPER' }), 'metadata.name'],
    [rootfs({ image: 'base' }, { name: 'ok', namespace: 'a.b' }), 'metadata.namespace'],
  ])('rejects %j at %s', (obj, field) => {
    expect(validateObject(obj).map((e) => e.field)).toContain(field);
  });

  test('accepts the documented forms and fills defaults', () => {
    expect(validateObject(image({ source: 'docker://registry.example.com/org/cflinuxfs4:1.2', platform: 'linux/amd64', pullPolicy: 'Always', insecure: false }))).toEqual([]);
    expect(validateObject(image({ source: 'oci:///abs/path:tag' }))).toEqual([]);
    expect(validateObject(image({ source: '/abs/rootfs.tar' }))).toEqual([]);
    expect(validateObject(rootfs({ image: 'cflinuxfs4', diskLimitBytes: 1073741824, excludeImageFromQuota: true, mount: false, uidMappings: [{ containerID: 0, hostID: 4294967294, size: 1 }] }))).toEqual([]);
    const d = withDefaults(rootfs({ image: 'base' }));
    expect(d.spec).toEqual({ image: 'base', diskLimitBytes: 0, excludeImageFromQuota: false, mount: true });
    expect(d.metadata.namespace).toBe('default');
    expect(withDefaults(image({ source: 'docker://x' })).spec).toMatchObject({ pullPolicy: 'IfNotPresent', insecure: false });
  });

  test('identify: what cannot be named is the file\'s problem', () => {
    expect(identify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }).errors.map((e) => e.field)).toEqual(['apiVersion', 'kind']);
    expect(identify({ apiVersion: 'groot.dev/v1alpha1', kind: 'Image', metadata: {} }).ref).toBeUndefined();
    expect(identify('text').errors.length).toBe(1);
    expect(identify({ apiVersion: 'groot.dev/v1alpha1', kind: 'Image', metadata: { name: 'a', namespace: 'ns' } }).ref).toEqual({ kind: 'Image', namespace: 'ns', name: 'a' });
  });

  test('spec.image: a plain name is an Image, anything with : or / is a source', () => {
    expect(imageRefKind('cflinuxfs4')).toBe('name');
    expect(imageRefKind('docker://busybox')).toBe('source');
    expect(imageRefKind('/a/b.tar')).toBe('source');
    expect(imageRefKind('no such')).toBe('invalid');
  });
});

describe('conditions', () => {
  test('lastTransitionTime moves only when status changes; Ready stays on top; reasons are CamelCase', () => {
    const t1 = new Date('2024-01-01T00:00:00Z'); const t2 = new Date('2024-01-02T00:00:00Z');
    let c = setCondition(undefined, { type: 'Mounted', status: 'True', reason: 'Mounted', message: 'm' }, 1, t1);
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'Pulling', message: 'p' }, 1, t1);
    expect(c.map((x) => x.type)).toEqual(['Ready', 'Mounted']);
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'PullFailed', message: 'x' }, 2, t2);
    expect(getCondition(c, 'Ready')).toMatchObject({ reason: 'PullFailed', lastTransitionTime: t1.toISOString(), observedGeneration: 2 });
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Pulled', message: 'ok' }, 2, t2);
    expect(getCondition(c, 'Ready')?.lastTransitionTime).toBe(t2.toISOString());
    expect(() => setCondition(c, { type: 'Ready', status: 'True', reason: 'not camel', message: '' })).toThrow(/CamelCase/);
  });
});

describe('printer-column helpers', () => {
  test('jsonpath subset and kubectl ages', () => {
    const o = { status: { conditions: [{ type: 'Mounted', status: 'False' }, { type: 'Ready', status: 'True' }] }, spec: { a: [5, 6] } };
    expect(evalJsonPath(o, '.status.conditions[?(@.type=="Ready")].status')).toBe('True');
    expect(evalJsonPath(o, '.spec.a[1]')).toBe(6);
    expect(evalJsonPath(o, '.status.digest')).toBeUndefined();
    expect([59_000, 150_000, 600_000, 3 * 3600_000 + 120_000, 30 * 3600_000, 3 * 86400_000 + 3600_000].map(humanDuration)).toEqual(['59s', '2m30s', '10m', '3h2m', '30h', '3d1h']);
  });
});
