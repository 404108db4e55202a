export {
  type Config,
  ConfigError,
  DEFAULT_CONFIG_FILE,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
} from './config.js';
export { parseIniDefaults } from './ini.js';
export type { ListenAddress, StrictHostKeyChecking } from './values.js';
