// One process of the concurrent project-id allocation test. It loads everything, prints
// "ready", waits for a line on stdin (so every process starts assigning at the same moment),
// assigns each dir given on the command line and prints "<dir> <project id>" per dir.
import { XfsQuotaBackend } from '../../dist/quota/xfs.js';
import { fsGetXattr } from '../../dist/sys/ioctl.js';

const [storePath, ...dirs] = process.argv.slice(2);
const q = new XfsQuotaBackend({ storePath });
console.log('ready');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();
await Promise.all(dirs.map((d) => q.assign(d)));
for (const d of dirs) console.log(`${d} ${fsGetXattr(d).projid}`);
