// A token server for docker-registry's `auth.token` mode: checks Basic credentials and
// issues RS256 JWTs signed by a test key whose certificate the registry trusts (x5c header).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

export interface TokenRequestRecord {
  method: string;
  service: string | null;
  scopes: string[];
  /** The user that authenticated, '' for anonymous, null for bad credentials. */
  user: string | null;
  grantType?: string;
}

export interface TokenServerOptions {
  /** PEM files: the signing key and its certificate. */
  key: string;
  cert: string;
  service: string;
  issuer: string;
  users: Record<string, string>;
  /** Repositories anonymous callers may pull (others get a token with no access). */
  anonymousPull?: (repo: string) => boolean;
  /** Token lifetime in seconds. */
  expiresIn?: number;
  /** OAuth2 refresh tokens (identity tokens) accepted in POST requests: token -> user. */
  refreshTokens?: Record<string, string>;
}

export interface TokenServer {
  realm: string;
  requests: TokenRequestRecord[];
  /** Every token issued, to check none leaks into logs or messages. */
  tokens: string[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function parseBasic(req: IncomingMessage, users: Record<string, string>): string | null | '' {
  const h = req.headers.authorization;
  if (!h) return '';
  const m = /^Basic\s+(.+)$/i.exec(h);
  if (!m) return null;
  const dec = Buffer.from(m[1], 'base64').toString('utf8');
  const i = dec.indexOf(':');
  const u = dec.slice(0, i);
  const p = dec.slice(i + 1);
  return users[u] !== undefined && users[u] === p ? u : null;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(o: TokenServerOptions): Promise<TokenServer> {
  const keyPem = await readFile(o.key, 'utf8');
  const certPem = await readFile(o.cert, 'utf8');
  const key = createPrivateKey(keyPem);
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const requests: TokenRequestRecord[] = [];
  const tokens: string[] = [];

  const issue = (user: string, scopes: string[]) => {
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name) return [];
      const granted = user ? (actions ?? '').split(',') : (o.anonymousPull?.(name) ? ['pull'] : []);
      return [{ type, name, actions: granted.filter((a) => a === 'pull' || a === 'push' || (user && a === '*')) }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = { iss: o.issuer, sub: user, aud: o.service, exp: now + (o.expiresIn ?? 300), nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), key);
    const token = `${input}.${b64url(sig)}`;
    tokens.push(token);
    return token;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (docker config.json `identitytoken`).
      const form = new URLSearchParams(await readBody(req));
      const scopes = form.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const user = o.refreshTokens?.[form.get('refresh_token') ?? ''] ?? null;
      requests.push({ method: 'POST', service: form.get('service'), scopes, user, grantType: form.get('grant_type') ?? undefined });
      if (form.get('grant_type') !== 'refresh_token' || !user) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: issue(user, scopes), expires_in: o.expiresIn ?? 300, scope: scopes.join(' ') }));
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const user = parseBasic(req, o.users);
    requests.push({ method: 'GET', service: url.searchParams.get('service'), scopes, user });
    if (user === null) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
      return;
    }
    const token = issue(user, scopes);
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: o.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    tokens,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
