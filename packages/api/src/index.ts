// The socket API shared by the daemon (schemas, paths, wire types) and its clients (the CLI).
export { ButtervolumeClient, type CallOptions, type ClientOptions } from './client.js';
export {
  type EndpointKey,
  endpoints,
  type GroupSnapshotResponse,
  type NotOwnerResponse,
  type PurgeResponse,
  type RestoreResponse,
  type RestoreSetResponse,
  type ScheduleEntry,
  type ScheduleListResponse,
  type SendResponse,
  type StatusResponse,
  type SyncResponse,
  type Transfer,
  type TransfersResponse,
  type VolumeHealthEntry,
  type VolumeStatus,
} from './endpoints.js';
export {
  DaemonError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  InvalidRequestError,
  ProtocolError,
} from './errors.js';
export {
  type FailoverPolicy,
  parseCreateOpts,
  parseJsonBody,
  parseRequest,
  requestSchemas,
  volumeParamSchema,
} from './schemas.js';
