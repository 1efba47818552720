// The options every `groot` command shares: `--config --store --log-level --log-file`.
// They live on the root program (GrootFS puts them before the command: `grootfs --store S
// create ...`); commander also accepts them after the command name.
import type { Command } from 'commander';
import { DEFAULT_STORE } from './config.js';

export interface GlobalFlags { config?: string; store?: string; logLevel?: string; logFile?: string }

/** Add the shared options to the root program once; safe to call from every command family. */
export function ensureGlobalOptions(program: Command): void {
  const has = (long: string) => program.options.some((o) => o.long === long);
  if (!has('--config')) program.option('--config <file>', 'config file (GrootFS YAML keys)');
  if (!has('--store')) program.option('--store <path>', `store directory (default: ${DEFAULT_STORE})`);
  if (!has('--log-level')) program.option('--log-level <level>', 'trace|debug|info|warn|error|fatal (default: warn)');
  if (!has('--log-file')) program.option('--log-file <file>', 'append logs to this file instead of stderr');
}

/** The shared options as given on the command line (undefined when not given). */
export function globalFlags(cmd: Command): GlobalFlags {
  let root = cmd;
  while (root.parent) root = root.parent;
  const o = root.opts<GlobalFlags>();
  return { config: o.config, store: o.store, logLevel: o.logLevel, logFile: o.logFile };
}
