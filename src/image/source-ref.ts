// Source strings -> what they name. Forms (GrootFS-compatible where GrootFS has one):
//   oci:///ABS/PATH[:TAG|@DIGEST]   oci:/ABS/PATH[...]   oci:REL/PATH[...] (against cwd)
//   docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]   docker:///REPO (empty host = Docker Hub)
//   /ABS/rootfs.tar   REL/rootfs.tar   file:///ABS/rootfs.tar   (a plain rootfs tarball)
// As in skopeo's oci: transport, the tag starts at the first ':' after "oci:", so an OCI
// layout path cannot contain ':'.
import { resolve as resolvePath } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import { digestProblem } from './digest.js';

export interface OciSourceRef {
  kind: 'oci';
  /** Absolute path of the layout directory. */
  path: string;
  /** Selects the manifest by `org.opencontainers.image.ref.name`. */
  tag?: string;
  /** Selects the manifest by digest; wins over a tag when both are given. */
  digest?: string;
}

export interface DockerSourceRef {
  kind: 'docker';
  /** Domain as written in references ("docker.io" for Docker Hub). */
  domain: string;
  /** host[:port] to talk the distribution API to ("registry-1.docker.io" for Docker Hub). */
  registry: string;
  /** Repository path, "library/"-prefixed for single-component Docker Hub names. */
  repository: string;
  /** Tag; "latest" when neither tag nor digest is given; absent for a bare @digest. */
  tag?: string;
  /** Pinned manifest digest; wins over a tag when both are given. */
  digest?: string;
  /** Canonical reference, e.g. "docker.io/library/busybox:latest". */
  name: string;
}

export interface TarballSourceRef {
  kind: 'tarball';
  /** Absolute path of the tarball. */
  path: string;
}

export type SourceRef = OciSourceRef | DockerSourceRef | TarballSourceRef;

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

// Distribution spec / docker reference grammar.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// OCI image-layout grammar for org.opencontainers.image.ref.name (allows '/', ':', '@', '+').
const OCI_REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const OCI_REF_NAME = new RegExp(`^${OCI_REF_COMPONENT}(?:/${OCI_REF_COMPONENT})*$`);
const MAX_NAME_LENGTH = 255;

function bad(source: string, problem: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid image source ${JSON.stringify(source)}: ${problem}`);
}

/** Parse a source string; throws InvalidArgumentError naming the source and the problem. */
export function parseSource(source: string, cwd: string = process.cwd()): SourceRef {
  if (typeof source !== 'string' || source.trim() === '') throw bad(String(source), 'empty source');
  if (source !== source.trim()) throw bad(source, 'leading or trailing whitespace');
  if (source.includes('\0')) throw bad(source, 'contains a NUL byte');

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(source)?.[1]?.toLowerCase();
  const rest = scheme === undefined ? '' : source.slice(scheme.length + 1);
  if (scheme === 'oci') return parseOci(source, rest, cwd);
  if (scheme === 'docker') {
    if (!rest.startsWith('//')) throw bad(source, 'registry sources are written docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]');
    return parseDocker(source, rest.slice(2));
  }
  if (scheme === 'file') {
    if (!rest.startsWith('///')) throw bad(source, 'file sources are written file:///ABSOLUTE/PATH (no host)');
    return tarball(source, rest.slice(2), cwd);
  }
  if (scheme === 'http' || scheme === 'https') throw bad(source, 'downloading tarballs over HTTP is not supported; use docker://HOST/REPO for a registry');
  // "name:with:colons.tar" is a file name; "s3://..." is a scheme we do not know.
  if (scheme !== undefined && rest.startsWith('//')) throw bad(source, `unsupported scheme "${scheme}:" (use docker://, oci: or a tarball path)`);
  return tarball(source, source, cwd);
}

function tarball(source: string, path: string, cwd: string): TarballSourceRef {
  if (path === '') throw bad(source, 'empty path');
  return { kind: 'tarball', path: resolvePath(cwd, path) };
}

function parseOci(source: string, rest: string, cwd: string): OciSourceRef {
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    throw bad(source, 'oci://HOST/... is not a layout path; use oci:///ABSOLUTE/PATH[:TAG] or oci:RELATIVE/PATH[:TAG]');
  }
  let spec = rest.startsWith('///') ? rest.slice(2) : rest;
  let digest: string | undefined;
  // "@alg:..." at the end pins a digest; checked before the tag split, which the digest's ':' would confuse.
  const at = /@([A-Za-z0-9+._-]+:[^/@]*)$/.exec(spec);
  if (at) {
    const problem = digestProblem(at[1]);
    if (problem) throw bad(source, `digest ${at[1]} ${problem}`);
    digest = at[1];
    spec = spec.slice(0, at.index);
  }
  let tag: string | undefined;
  const colon = spec.indexOf(':');
  if (colon >= 0) {
    tag = spec.slice(colon + 1);
    spec = spec.slice(0, colon);
    if (tag === '') throw bad(source, 'empty tag after ":"');
    if (tag.length > MAX_NAME_LENGTH || !(OCI_REF_NAME.test(tag) || DOCKER_TAG.test(tag))) {
      throw bad(source, `tag ${JSON.stringify(tag)} is not a valid reference name`);
    }
  }
  if (spec === '') throw bad(source, 'no layout path (use oci:///ABSOLUTE/PATH[:TAG])');
  return { kind: 'oci', path: resolvePath(cwd, spec), ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

function parseDocker(source: string, afterSlashes: string): DockerSourceRef {
  // GrootFS passes "//" + host + path to the docker reference parser, so "docker:///x" and
  // "docker://x" both name x on Docker Hub, and "docker://host:5000/x" names a registry.
  let rest = afterSlashes.startsWith('/') ? afterSlashes.slice(1) : afterSlashes;
  if (rest === '') throw bad(source, 'no repository name');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw bad(source, `digest ${JSON.stringify(digest)} ${problem}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!DOCKER_TAG.test(tag)) throw bad(source, `tag ${JSON.stringify(tag)} is not valid (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`);
  }
  if (rest === '') throw bad(source, 'no repository name');

  let domain = '';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // The docker rule: a first component is a registry host when it looks like one.
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain !== '' && !DOMAIN.test(domain)) throw bad(source, `registry host ${JSON.stringify(domain)} is not a valid host[:port]`);
  const hub = domain === '' || HUB_ALIASES.has(domain.toLowerCase());
  if (path === '') throw bad(source, 'no repository name');
  for (const component of path.split('/')) {
    if (component === '') throw bad(source, `repository ${JSON.stringify(path)} has an empty path component`);
    if (!PATH_COMPONENT.test(component)) {
      const lower = component.toLowerCase();
      if (lower !== component && PATH_COMPONENT.test(lower)) throw bad(source, `repository name ${JSON.stringify(path)} must be lowercase`);
      throw bad(source, `repository path component ${JSON.stringify(component)} is not valid (want lowercase letters and digits separated by '.', '_', '__' or '-')`);
    }
  }
  if (hub && !path.includes('/')) path = `library/${path}`;
  const canonicalDomain = hub ? DOCKER_HUB_DOMAIN : domain;
  const fullName = `${canonicalDomain}/${path}`;
  if (fullName.length > MAX_NAME_LENGTH) throw bad(source, `repository name is longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    kind: 'docker',
    domain: canonicalDomain,
    registry: hub ? DOCKER_HUB_REGISTRY : domain,
    repository: path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
    name: fullName + (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : ''),
  };
}

/** The source string for a reference, in the form parseSource reads back. */
export function formatSource(ref: SourceRef): string {
  if (ref.kind === 'tarball') return ref.path;
  if (ref.kind === 'oci') return `oci://${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  return `docker://${ref.name}`;
}
