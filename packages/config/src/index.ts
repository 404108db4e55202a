export {
  type Config,
  ConfigError,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
} from './config.js';
export type { ListenAddress, StrictHostKeyChecking } from './values.js';
