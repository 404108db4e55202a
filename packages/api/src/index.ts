// The socket API shared by the daemon (schemas, paths, wire types) and its clients (the CLI).
export { ButtervolumeClient, type CallOptions, type ClientOptions } from './client.js';
export * from './endpoints.js';
export {
  DaemonError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  InvalidRequestError,
  ProtocolError,
} from './errors.js';
export * from './schemas.js';
