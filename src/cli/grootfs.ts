// grootfs-compatible commands (Garden image plugin): owned by the CLI work.
import type { Command } from 'commander';
export function registerGrootfsCommands(_program: Command): void {}
