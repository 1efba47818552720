// Entry point of the `groot` binary. Each command family registers itself here.
import { Command } from 'commander';
import { registerGrootfsCommands } from './grootfs.js';
import { registerControllerCommands } from './controller.js';

const program = new Command('groot');
program.description('Container images and root filesystems for one node (grootfs-compatible)');
registerGrootfsCommands(program);
registerControllerCommands(program);

await program.parseAsync(process.argv);
