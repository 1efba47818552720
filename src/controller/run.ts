// `groot controller` as a process: open the engine, pick the source, serve metrics and
// health, reconcile until SIGTERM/SIGINT, then shut down gracefully.
import type { Engine } from '../rootfs/types.js';
import type { EngineOptions } from '../rootfs/index.js';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import { Controller } from './controller.js';
import { DropinSource } from './source-dropins.js';
import type { Source } from './source.js';
import { parseAddress, serveHttp } from './http.js';
import type { ControllerSettings } from './config.js';

const log = logger('controller');

export interface RunOptions {
  storePath: string;
  settings: ControllerSettings;
  openEngine: (o: EngineOptions) => Promise<Engine>;
  /** Install SIGTERM/SIGINT handlers (the CLI does; tests stop by hand). */
  handleSignals?: boolean;
}

export interface Running {
  controller: Controller;
  engine: Engine;
  /** Base URL of the metrics/health server, when serving. */
  url?: string;
  stop(): Promise<void>;
  /** Resolves once stopped. */
  done: Promise<void>;
}

export async function makeSource(s: ControllerSettings, storePath: string): Promise<Source> {
  if (s.kube && s.dropins) throw new InvalidArgumentError('--dropins and --kube cannot be used together: pick one source of objects');
  if (s.kube) {
    const { KubeSource } = await import('./source-kube.js');
    return KubeSource.create({ node: s.node, kubeconfig: s.kubeconfig, resyncMs: s.resyncSeconds * 1000 });
  }
  if (!s.dropins) throw new InvalidArgumentError('no source of objects: give --dropins DIR or --kube');
  return new DropinSource({ dir: s.dropins, node: s.node, storePath });
}

export async function runController(o: RunOptions): Promise<Running> {
  const s = o.settings;
  if (s.metricsAddress && s.metricsAddress !== 'off') parseAddress(s.metricsAddress); // bad flags fail before anything starts
  const source = await makeSource(s, o.storePath);
  const engine = await o.openEngine({ storePath: o.storePath });
  const controller = new Controller({
    engine, source,
    settings: {
      resyncMs: s.resyncSeconds * 1000, usageMs: s.usageSeconds * 1000,
      registry: {
        ...(Object.keys(s.registryMirrors).length ? { mirrors: s.registryMirrors } : {}),
        ...(s.layerConcurrency ? { concurrency: s.layerConcurrency } : {}),
        ...(s.credentialsFile ? { credentialsFile: s.credentialsFile } : {}),
      },
    },
    pullConcurrency: s.pullConcurrency, rootfsConcurrency: s.rootfsConcurrency,
    gcThresholdBytes: s.gcThresholdBytes, gcIntervalMs: s.gcIntervalSeconds * 1000,
    sourcePolicy: { localSourceDirs: s.localSourceDirs, insecureRegistries: s.insecureRegistries },
    processMetrics: true,
  });
  let stopping = false;
  const http = s.metricsAddress && s.metricsAddress !== 'off'
    ? await serveHttp(s.metricsAddress, { registry: controller.metrics.registry, ready: () => controller.ready(), healthy: () => !stopping })
    : undefined;
  // Keeps the process alive whatever else is (un)referenced, until stop.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  let stopPromise: Promise<void> | undefined;
  const stop = () => {
    stopPromise ??= (async () => {
      stopping = true;
      log.info('stopping: finishing in-flight work');
      try {
        await controller.stop(s.shutdownTimeoutSeconds * 1000);
      } catch (e) {
        log.error({ err: messageOf(e) }, 'error while stopping');
      }
      await http?.close();
      await engine.close();
      clearInterval(keepAlive);
      log.info('stopped');
      resolveDone();
    })();
    return stopPromise;
  };
  if (o.handleSignals) {
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopPromise) { log.warn({ signal: sig }, 'second signal: exiting now'); process.exit(1); }
      log.info({ signal: sig }, 'signal received');
      void stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    void done.then(() => { process.off('SIGTERM', onSignal); process.off('SIGINT', onSignal); });
  }
  try {
    await controller.start();
  } catch (e) {
    await stop();
    throw e;
  }
  // What Kubernetes objects may name on this node, for the operator reading the log.
  const policy = source.operatorOwned ? {} : { localSourceDirs: s.localSourceDirs, insecureRegistries: s.insecureRegistries };
  log.info({ source: source.name, node: s.node, store: o.storePath, metrics: http?.url, ...policy }, 'controller started');
  return { controller, engine, url: http?.url, stop, done };
}
