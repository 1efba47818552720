// An in-process stand-in for the Kubernetes API server, honouring the parts groot uses:
// discovery, CRD-backed resources (images, rootfses) with structural schema defaults and
// validation, list/watch with resourceVersion and 410 Gone, label selectors, the status
// subresource, generation, finalizers + deletionTimestamp, merge and JSON patch, Table
// responses built from the CRD printer columns, core v1 Events and Secrets.
// Test knobs: dropWatches(), compact(), failRequests(), and direct object access.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parse } from 'yaml';
import { applySchema, columnValue, humanAge, jsonPatch, matches, mergePatch, parseSelector, PatchError, type Obj } from './fake-apiserver-util.js';

interface ResourceDef {
  group: string; version: string; plural: string; singular: string; kind: string; listKind: string;
  namespaced: boolean; shortNames: string[]; categories: string[];
  statusSubresource: boolean; schema?: Obj; columns?: Obj[];
}

interface WatchEvent { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; res: string; obj: Obj; old?: Obj }

interface Watcher { res: string; ns?: string; sel: ReturnType<typeof parseSelector>; send(ev: Obj): void; end(): void; socket: Socket }

const repoRoot = join(new URL('.', import.meta.url).pathname, '..', '..');

function crdResource(crd: Obj): ResourceDef {
  const v = crd.spec.versions[0];
  return {
    group: crd.spec.group, version: v.name, plural: crd.spec.names.plural, singular: crd.spec.names.singular, kind: crd.spec.names.kind,
    listKind: crd.spec.names.listKind ?? `${crd.spec.names.kind}List`, namespaced: crd.spec.scope === 'Namespaced',
    shortNames: crd.spec.names.shortNames ?? [], categories: crd.spec.names.categories ?? [], statusSubresource: !!v.subresources?.status,
    schema: v.schema?.openAPIV3Schema, columns: v.additionalPrinterColumns ?? [],
  };
}

const CORE: ResourceDef[] = [
  { group: '', version: 'v1', plural: 'events', singular: 'event', kind: 'Event', listKind: 'EventList', namespaced: true, shortNames: ['ev'], categories: [], statusSubresource: false },
  { group: '', version: 'v1', plural: 'secrets', singular: 'secret', kind: 'Secret', listKind: 'SecretList', namespaced: true, shortNames: [], categories: [], statusSubresource: false },
  { group: '', version: 'v1', plural: 'namespaces', singular: 'namespace', kind: 'Namespace', listKind: 'NamespaceList', namespaced: false, shortNames: ['ns'], categories: [], statusSubresource: false },
];

export interface RequestLog { method: string; path: string; query: string; contentType?: string; accept?: string }

export class FakeApiServer {
  readonly resources = new Map<string, ResourceDef>(); // "group/plural"
  readonly objects = new Map<string, Obj>(); // "group/plural/ns/name"
  readonly history: WatchEvent[] = [];
  readonly requests: RequestLog[] = [];
  historyLimit = 10_000;
  private rv = 100;
  private compactedAt = 0;
  private server?: Server;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private failing: { count: number; status: number; match: RegExp } | undefined;
  url = '';

  constructor(crdFiles = ['crds/images.groot.dev.yaml', 'crds/rootfses.groot.dev.yaml']) {
    for (const r of CORE) this.resources.set(`/${r.plural}`, r);
    for (const f of crdFiles) {
      const crd = parse(readFileSync(join(repoRoot, f), 'utf8'));
      const r = crdResource(crd);
      this.resources.set(`${r.group}/${r.plural}`, r);
    }
  }

  /** PEM of the server's self-signed certificate (the kubeconfig trusts exactly this). */
  caPem = '';

  async start(): Promise<string> {
    // TLS like a real API server: the client library verifies it against the kubeconfig's CA.
    const dir = mkdtempSync(join(tmpdir(), 'groot-fakeapi-tls-'));
    let key: string;
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '2', '-subj', '/CN=groot-fake-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
      this.caPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
      key = readFileSync(join(dir, 'key.pem'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    this.server = createServer({ cert: this.caPem, key }, (req, res) => { void this.handle(req, res); });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.end();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** A kubeconfig pointing at this server (no auth). */
  writeKubeconfig(path: string): string {
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
    }));
    return path;
  }

  // ---- test knobs ----
  /** Cut every open watch connection abruptly (no clean end). */
  dropWatches(): number {
    const n = this.watchers.size;
    for (const w of [...this.watchers]) { w.socket.destroy(); this.watchers.delete(w); }
    return n;
  }
  /** Forget history: watches from an older resourceVersion get 410 Gone. Open watches end with 410 too. */
  compact(): void {
    this.compactedAt = this.rv;
    this.history.length = 0;
    for (const w of [...this.watchers]) { w.send({ type: 'ERROR', object: this.status(410, 'Expired', `too old resource version: ${this.rv}`) }); w.end(); }
  }
  /** Fail the next `count` requests whose "METHOD path" matches with `status`. */
  failRequests(count: number, status = 500, match = /./): void { this.failing = { count, status, match }; }
  watchCount(): number { return this.watchers.size; }
  currentRV(): number { return this.rv; }

  get(group: string, plural: string, ns: string, name: string): Obj | undefined {
    const o = this.objects.get(`${group}/${plural}/${ns}/${name}`);
    return o && structuredClone(o);
  }
  list(group: string, plural: string): Obj[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${group}/${plural}/`)).map(([, o]) => structuredClone(o));
  }
  /** Create as a client would (defaults, validation, metadata). Throws on a 4xx. */
  create(group: string, plural: string, obj: Obj): Obj {
    const r = this.resources.get(`${group}/${plural}`)!;
    const ns = obj.metadata?.namespace ?? 'default';
    const res = this.doCreate(r, r.namespaced ? ns : undefined, obj);
    if ('code' in res && res.kind === 'Status') throw new Error(res.message);
    return res;
  }
  update(group: string, plural: string, ns: string, name: string, f: (o: Obj) => Obj): Obj {
    const r = this.resources.get(`${group}/${plural}`)!;
    const cur = this.objects.get(this.key(r, ns, name));
    if (!cur) throw new Error(`${plural} ${ns}/${name} not found`);
    const res = this.doUpdate(r, ns, name, f(structuredClone(cur)), false);
    if (res.kind === 'Status') throw new Error(res.message);
    return res;
  }
  /** As a controller writes status: through the /status subresource. */
  updateStatus(group: string, plural: string, ns: string, name: string, status: Obj): Obj {
    const r = this.resources.get(`${group}/${plural}`)!;
    const res = this.doUpdate(r, ns, name, { status }, true);
    if (res.kind === 'Status') throw new Error(res.message);
    return res;
  }
  delete(group: string, plural: string, ns: string, name: string): void {
    const r = this.resources.get(`${group}/${plural}`)!;
    const res = this.doDelete(r, ns, name);
    if (res.kind === 'Status' && res.code >= 400) throw new Error(res.message);
  }

  // ---- HTTP ----
  private status(code: number, reason: string, message: string): Obj {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  private send(res: ServerResponse, code: number, body: Obj): void {
    const s = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  }

  private async body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private key(r: ResourceDef, ns: string | undefined, name: string): string {
    return `${r.group}/${r.plural}/${r.namespaced ? ns ?? 'default' : ''}/${name}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const path = u.pathname.replace(/\/+$/, '') || '/';
    this.requests.push({ method: req.method ?? 'GET', path, query: u.search, contentType: req.headers['content-type'], accept: req.headers.accept });
    if (this.failing && this.failing.count > 0 && this.failing.match.test(`${req.method} ${path}`)) {
      this.failing.count--;
      await this.body(req);
      return this.send(res, this.failing.status, this.status(this.failing.status, 'InternalError', 'injected failure'));
    }
    try {
      const d = this.discovery(path);
      if (d) return this.send(res, 200, d);
      if (path === '/version') return this.send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', platform: 'linux/amd64' });
      // /api/v1[/namespaces/NS]/PLURAL[/NAME[/status]]  or /apis/G/V[/namespaces/NS]/PLURAL[/NAME[/status]]
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(path);
      if (!m) return this.send(res, 404, this.status(404, 'NotFound', `the server could not find the requested resource (${path})`));
      const [, group = '', version = 'v1', ns, plural, name, sub] = m;
      const r = this.resources.get(`${group}/${plural}`);
      if (!r || r.version !== version) return this.send(res, 404, this.status(404, 'NotFound', `the server could not find the requested resource`));
      const method = req.method ?? 'GET';
      const raw = method === 'GET' || method === 'DELETE' ? '' : await this.body(req);
      const input = raw ? JSON.parse(raw) : undefined;
      if (method === 'GET' && !name) {
        if (u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1') return this.watch(req, res, r, ns, u.searchParams);
        return this.sendList(req, res, r, ns, u.searchParams);
      }
      if (method === 'POST' && !name) {
        const out = this.doCreate(r, ns, input);
        return this.send(res, out.kind === 'Status' ? out.code : 201, out);
      }
      if (!name) return this.send(res, 405, this.status(405, 'MethodNotAllowed', `${method} not allowed on a collection`));
      const k = this.key(r, ns, name);
      if (method === 'GET') {
        const o = this.objects.get(k);
        if (!o) return this.send(res, 404, this.status(404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`));
        if (wantsTable(req)) return this.send(res, 200, this.table(r, [o]));
        return this.send(res, 200, o);
      }
      if (method === 'DELETE') {
        const out = this.doDelete(r, ns, name);
        return this.send(res, out.kind === 'Status' && out.code >= 400 ? out.code : 200, out);
      }
      if (method === 'PUT') {
        const out = this.doUpdate(r, ns, name, input, sub === 'status');
        return this.send(res, out.kind === 'Status' ? out.code : 200, out);
      }
      if (method === 'PATCH') {
        const cur = this.objects.get(k);
        if (!cur) return this.send(res, 404, this.status(404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`));
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        let next: Obj;
        try {
          if (ct === 'application/merge-patch+json') next = mergePatch(cur, input) as Obj;
          else if (ct === 'application/json-patch+json') next = jsonPatch(cur, input);
          else return this.send(res, 415, this.status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json`));
        } catch (e) {
          const code = e instanceof PatchError ? e.code : 400;
          return this.send(res, code, this.status(code, 'Invalid', (e as Error).message));
        }
        const out = this.doUpdate(r, ns, name, next, sub === 'status');
        return this.send(res, out.kind === 'Status' ? out.code : 200, out);
      }
      return this.send(res, 405, this.status(405, 'MethodNotAllowed', `${method} not supported`));
    } catch (e) {
      return this.send(res, 500, this.status(500, 'InternalError', (e as Error).message));
    }
  }

  private discovery(path: string): Obj | undefined {
    const groups = new Map<string, ResourceDef[]>();
    for (const r of this.resources.values()) if (r.group) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
    const resourceList = (gv: string, rs: ResourceDef[]) => ({
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
      resources: rs.flatMap((r) => [
        { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'], ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}) },
        ...(r.statusSubresource ? [{ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }] : []),
      ]),
    });
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
    if (path === '/api/v1') return resourceList('v1', [...this.resources.values()].filter((r) => !r.group));
    const groupObj = (g: string, rs: ResourceDef[]) => ({ name: g, versions: [{ groupVersion: `${g}/${rs[0]!.version}`, version: rs[0]!.version }], preferredVersion: { groupVersion: `${g}/${rs[0]!.version}`, version: rs[0]!.version } });
    if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([g, rs]) => groupObj(g, rs)) };
    for (const [g, rs] of groups) {
      if (path === `/apis/${g}`) return { kind: 'APIGroup', apiVersion: 'v1', ...groupObj(g, rs) };
      if (path === `/apis/${g}/${rs[0]!.version}`) return resourceList(`${g}/${rs[0]!.version}`, rs);
    }
    return undefined;
  }

  private apiVersion(r: ResourceDef): string { return r.group ? `${r.group}/${r.version}` : r.version; }

  private admit(r: ResourceDef, obj: Obj): string[] {
    const errors: string[] = [];
    if (!r.schema) return errors;
    const { metadata, status, apiVersion: _a, kind: _k, ...rest } = obj;
    const pruned = applySchema(rest, { ...r.schema, properties: Object.fromEntries(Object.entries(r.schema.properties ?? {}).filter(([k]) => !['metadata', 'status', 'apiVersion', 'kind'].includes(k))) }, '', errors) as Obj;
    for (const k of Object.keys(obj)) if (!['metadata', 'status', 'apiVersion', 'kind'].includes(k)) delete obj[k];
    Object.assign(obj, pruned);
    if (status !== undefined && r.schema.properties?.status) obj.status = applySchema(status, r.schema.properties.status, '.status', errors);
    return errors.map((e) => e.replace(/^\./, ''));
  }

  private invalid(r: ResourceDef, name: string, errors: string[]): Obj {
    return { ...this.status(422, 'Invalid', `${r.kind} "${name}" is invalid: ${errors.join(', ')}`), details: { name, group: r.group, kind: r.plural, causes: errors.map((m) => ({ reason: 'FieldValueInvalid', message: m })) } };
  }

  private record(type: WatchEvent['type'], r: ResourceDef, obj: Obj, old?: Obj): void {
    const ev: WatchEvent = { rv: Number(obj.metadata.resourceVersion), type, res: `${r.group}/${r.plural}`, obj: structuredClone(obj), ...(old ? { old } : {}) };
    this.history.push(ev);
    if (this.history.length > this.historyLimit) { const dropped = this.history.shift()!; this.compactedAt = dropped.rv; }
    for (const w of this.watchers) this.deliver(w, ev);
  }

  private deliver(w: Watcher, ev: WatchEvent): void {
    if (w.res !== ev.res) return;
    if (w.ns && ev.obj.metadata.namespace !== w.ns) return;
    const now = matches(w.sel, ev.obj.metadata.labels);
    const before = ev.old ? matches(w.sel, ev.old.metadata.labels) : false;
    if (ev.type === 'DELETED') { if (now) w.send({ type: 'DELETED', object: ev.obj }); return; }
    if (now && (ev.type === 'ADDED' || !before)) w.send({ type: 'ADDED', object: ev.obj });
    else if (now) w.send({ type: 'MODIFIED', object: ev.obj });
    else if (before) w.send({ type: 'DELETED', object: ev.obj });
  }

  private doCreate(r: ResourceDef, ns: string | undefined, input: Obj): Obj {
    const obj: Obj = structuredClone(input ?? {});
    obj.apiVersion = this.apiVersion(r); obj.kind = r.kind;
    const md = (obj.metadata ??= {});
    if (!md.name && md.generateName) md.name = md.generateName + randomUUID().slice(0, 5);
    if (!md.name) return this.invalid(r, '', ['metadata.name: Required value: name or generateName is required']);
    if (r.namespaced) { if (md.namespace && ns && md.namespace !== ns) return this.status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'); md.namespace = ns ?? md.namespace ?? 'default'; }
    const k = this.key(r, md.namespace, md.name);
    if (this.objects.has(k)) return this.status(409, 'AlreadyExists', `${r.plural}.${r.group} "${md.name}" already exists`);
    if (r.statusSubresource) delete obj.status;
    const errors = this.admit(r, obj);
    if (errors.length) return this.invalid(r, md.name, errors);
    md.uid = randomUUID();
    md.resourceVersion = String(++this.rv);
    md.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (r.schema) md.generation = 1;
    delete md.deletionTimestamp;
    this.objects.set(k, obj);
    this.record('ADDED', r, obj);
    return structuredClone(obj);
  }

  private doUpdate(r: ResourceDef, ns: string | undefined, name: string, input: Obj, statusOnly: boolean): Obj {
    const k = this.key(r, ns, name);
    const cur = this.objects.get(k);
    if (!cur) return this.status(404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`);
    const inRV = input?.metadata?.resourceVersion;
    if (inRV && inRV !== cur.metadata.resourceVersion) return this.status(409, 'Conflict', `Operation cannot be fulfilled on ${r.plural}.${r.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    let next: Obj;
    if (statusOnly) {
      next = { ...structuredClone(cur), status: input.status };
    } else {
      next = structuredClone(input);
      next.apiVersion = cur.apiVersion; next.kind = cur.kind;
      const md = (next.metadata ??= {});
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'generation', 'name', 'namespace']) { if (cur.metadata[f] === undefined) delete md[f]; else md[f] = cur.metadata[f]; }
      if (r.statusSubresource) { if (cur.status === undefined) delete next.status; else next.status = structuredClone(cur.status); }
      if (cur.metadata.deletionTimestamp && (md.finalizers ?? []).some((f: string) => !(cur.metadata.finalizers ?? []).includes(f))) {
        return this.status(422, 'Forbidden', `${r.kind} "${name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted`);
      }
    }
    const errors = this.admit(r, next);
    if (errors.length) return this.invalid(r, name, errors);
    if (!statusOnly && r.schema && JSON.stringify(specOf(next)) !== JSON.stringify(specOf(cur))) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    if (!next.metadata.finalizers?.length) delete next.metadata.finalizers;
    if (JSON.stringify(next) === JSON.stringify(cur)) return structuredClone(cur); // no-op: no new resourceVersion
    next.metadata.resourceVersion = String(++this.rv);
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
      this.objects.delete(k);
      this.record('DELETED', r, next, cur);
      return structuredClone(next);
    }
    this.objects.set(k, next);
    this.record('MODIFIED', r, next, cur);
    return structuredClone(next);
  }

  private doDelete(r: ResourceDef, ns: string | undefined, name: string): Obj {
    const k = this.key(r, ns, name);
    const cur = this.objects.get(k);
    if (!cur) return this.status(404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`);
    if (cur.metadata.finalizers?.length) {
      if (cur.metadata.deletionTimestamp) return structuredClone(cur);
      const next = structuredClone(cur);
      next.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      next.metadata.deletionGracePeriodSeconds = 0;
      next.metadata.resourceVersion = String(++this.rv);
      this.objects.set(k, next);
      this.record('MODIFIED', r, next, cur);
      return structuredClone(next);
    }
    this.objects.delete(k);
    const gone = structuredClone(cur);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record('DELETED', r, gone, cur);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: r.group, kind: r.plural, uid: cur.metadata.uid } };
  }

  private selected(r: ResourceDef, ns: string | undefined, q: URLSearchParams): Obj[] {
    let sel;
    try { sel = parseSelector(q.get('labelSelector')); } catch (e) { throw Object.assign(new Error((e as Error).message), { code: 400 }); }
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${r.group}/${r.plural}/`))
      .map(([, o]) => o)
      .filter((o) => (!ns || o.metadata.namespace === ns) && matches(sel, o.metadata.labels))
      .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }

  private sendList(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, q: URLSearchParams): void {
    let items: Obj[];
    try { items = this.selected(r, ns, q); } catch (e) { return this.send(res, 400, this.status(400, 'BadRequest', (e as Error).message)); }
    if (wantsTable(req)) return this.send(res, 200, this.table(r, items));
    this.send(res, 200, { kind: r.listKind, apiVersion: this.apiVersion(r), metadata: { resourceVersion: String(this.rv) }, items: items.map((o) => structuredClone(o)) });
  }

  private table(r: ResourceDef, items: Obj[]): Obj {
    const cols = [{ name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      ...(r.columns ?? []).map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 }))];
    if (!r.columns?.length) cols.push({ name: 'Created At', type: 'date', format: '', description: 'creation time', priority: 0 });
    const cellsOf = (o: Obj) => [o.metadata.name, ...(r.columns?.length ? r.columns : [{ jsonPath: '.metadata.creationTimestamp', type: 'date' }]).map((c) => {
      const v = columnValue(o, c.jsonPath);
      if (v === undefined || v === null) return null;
      if (c.type === 'date') return typeof v === 'string' ? humanAge(v) : '<invalid>';
      if (c.type === 'integer') return typeof v === 'number' ? Math.trunc(v) : null;
      if (c.type === 'string') return typeof v === 'object' ? JSON.stringify(v) : String(v);
      return v;
    })];
    return {
      kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(this.rv) }, columnDefinitions: cols,
      rows: items.map((o) => ({ cells: cellsOf(o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } })),
    };
  }

  private watch(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, q: URLSearchParams): void {
    let sel;
    try { sel = parseSelector(q.get('labelSelector')); } catch (e) { return this.send(res, 400, this.status(400, 'BadRequest', (e as Error).message)); }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // as the API server does: the client sees the watch open before any event
    const socket = req.socket;
    let ended = false;
    const w: Watcher = {
      res: `${r.group}/${r.plural}`, ns, sel, socket,
      send: (ev) => { if (!ended) res.write(JSON.stringify(ev) + '\n'); },
      end: () => { if (!ended) { ended = true; clearTimeout(timer); this.watchers.delete(w); res.end(); } },
    };
    const timeout = Number(q.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => w.end(), timeout * 1000);
    req.on('close', () => { ended = true; clearTimeout(timer); this.watchers.delete(w); });
    const rvParam = q.get('resourceVersion');
    if (!rvParam || rvParam === '0') {
      for (const o of this.selected(r, ns, new URLSearchParams(q.get('labelSelector') ? { labelSelector: q.get('labelSelector')! } : {}))) w.send({ type: 'ADDED', object: o });
    } else {
      const from = Number(rvParam);
      if (from < this.compactedAt) {
        w.send({ type: 'ERROR', object: this.status(410, 'Expired', `too old resource version: ${from} (${this.compactedAt})`) });
        return w.end();
      }
      for (const ev of this.history) if (ev.rv > from) this.deliver(w, ev);
    }
    this.watchers.add(w);
  }
}

function specOf(o: Obj): unknown {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}
