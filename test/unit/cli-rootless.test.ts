import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootlessNamespace } from '../../src/cli/rootless.js';

let etc: string;
beforeEach(async () => {
  etc = await mkdtemp(join(tmpdir(), 'groot-etc-'));
  await writeFile(join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\nvcap:x:1000:1000::/home/vcap:/bin/sh\n');
  await writeFile(join(etc, 'group'), 'root:x:0:\nvcap:x:1000:\n');
  await writeFile(join(etc, 'subuid'), 'other:50000:10\nvcap:100000:65536\n');
  await writeFile(join(etc, 'subgid'), '1000:200000:1000\n');
});
afterEach(async () => { await rm(etc, { recursive: true, force: true }); });

test('--rootless maps root to the user and 1.. to its subordinate range', async () => {
  expect(await rootlessNamespace('vcap:vcap', etc)).toEqual({
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 200000, size: 1000 }], // by numeric id too
  });
});

test('--rootless refuses unknown names and bad syntax', async () => {
  await expect(rootlessNamespace('nobody:vcap', etc)).rejects.toThrow(`--rootless: no user named "nobody" in ${join(etc, 'passwd')}`);
  await expect(rootlessNamespace('vcap', etc)).rejects.toThrow('--rootless "vcap" is not <user>:<group>');
});
