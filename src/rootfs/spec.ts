// The runtime-spec fragment `grootfs create` prints. GrootFS fills root.path and
// process.env (from the image config) only: the user stays 0/0 and cwd empty, and runtimes
// (Garden) take the user from their own request. Mounts only when groot did not mount.
import type { MountSpec, RuntimeSpec } from './types.js';

export function runtimeSpec(rootPath: string, env: string[], mount?: MountSpec): RuntimeSpec {
  const spec: RuntimeSpec = {
    ociVersion: '',
    process: { user: { uid: 0, gid: 0 }, env: [...env], cwd: '' },
    root: { path: rootPath },
  };
  if (mount) spec.mounts = [mount];
  return spec;
}
