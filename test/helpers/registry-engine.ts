// An engine on a fresh store pulling through a fault proxy in front of a test registry:
// the per-test setup of the registry engine suites, and its teardown (the engine closed,
// the proxy stopped, every mount below the store undone, the store removed).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openEngine, type Engine, type EngineOptions } from '../../src/rootfs/index.js';
import { unmountTree } from '../../src/store/index.js';
import { startFaultProxy, type FaultProxy } from './registry-proxy.js';

export interface ProxiedEngine { proxy: FaultProxy; engine: Engine; storePath: string; stop(): Promise<void> }

export async function startProxiedEngine(registryUrl: string, tmp: string, opts: Omit<EngineOptions, 'storePath'> = {}): Promise<ProxiedEngine> {
  const proxy = await startFaultProxy(registryUrl);
  const storePath = mkdtempSync(join(tmp, 'store-'));
  const self: ProxiedEngine = {
    proxy, storePath, engine: await openEngine({ storePath, quota: 'none', ...opts }),
    async stop() {
      try {
        await self.engine.close();
        await proxy.stop();
      } finally {
        await unmountTree(storePath);
        rmSync(storePath, { recursive: true, force: true });
      }
    },
  };
  return self;
}
