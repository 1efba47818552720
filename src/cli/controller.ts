// `groot controller`, `groot get`, `groot describe`: owned by the controller work.
import type { Command } from 'commander';
export function registerControllerCommands(_program: Command): void {}
