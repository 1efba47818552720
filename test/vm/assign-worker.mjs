// One process of the concurrent project-id allocation test: assign each dir given on the
// command line (after a shared start time, so the processes really race) and print
// "<dir> <project id>" per dir.
import { XfsQuotaBackend } from '../../dist/quota/xfs.js';
import { fsGetXattr } from '../../dist/sys/ioctl.js';

const [storePath, startAt, ...dirs] = process.argv.slice(2);
const q = new XfsQuotaBackend({ storePath });
const wait = Number(startAt) - Date.now();
if (wait > 0) await new Promise((r) => setTimeout(r, wait));
await Promise.all(dirs.map((d) => q.assign(d)));
for (const d of dirs) console.log(`${d} ${fsGetXattr(d).projid}`);
