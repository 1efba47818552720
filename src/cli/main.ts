// Entry point of the `groot` binary. Each command family registers itself here.
import { Command } from 'commander';
import { registerGrootfsCommands } from './grootfs.js';
import { registerControllerCommands } from './controller.js';

const program = new Command('groot');
program.description('Container images and root filesystems for one node (grootfs-compatible)');
registerGrootfsCommands(program);
registerControllerCommands(program);

// Not awaited at top level: the CLI also runs as one CommonJS bundle (hack/bundle.mjs). A
// rejection still ends the process with its error and exit code 1.
void program.parseAsync(process.argv);
