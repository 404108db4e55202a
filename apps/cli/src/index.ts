// The `buttervolume` command line as a library: build and run it with your own streams.
export { createCli, runCli, VERSION } from './cli.js';
export { COMMANDS } from './commands/index.js';
export type { CliContext } from './context.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, reportError } from './errors.js';
export { formatAge, formatBytes, formatDuration, formatRate, formatTable } from './format.js';
