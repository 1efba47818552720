// Which registries the operator calls insecure (plain HTTP or unverified TLS allowed). Its
// own file, free of undici, so the controller's source policy applies the very rule the
// registry client does without loading the client.

/** An entry as written ("Host:5000", "https://host/") to the form matched: "host[:port]". */
export function normalizeInsecureHost(h: string): string {
  return h.trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

/** "host" matches every port of that host; "host:port" only that port. */
export class InsecureHosts {
  private readonly entries: Set<string>;
  constructor(list: readonly string[] = []) {
    this.entries = new Set(list.map(normalizeInsecureHost).filter(Boolean));
  }
  has(url: URL | string): boolean {
    const u = typeof url === 'string' ? new URL(`https://${url}`) : url;
    const hostname = u.hostname.toLowerCase();
    const port = u.port || (u.protocol === 'http:' ? '80' : '443');
    return this.entries.has(hostname) || this.entries.has(`${hostname}:${port}`) || this.entries.has(u.host.toLowerCase());
  }
}
