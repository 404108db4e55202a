export {
  COMPOSE_PROJECT_LABEL,
  type ContainerSummary,
  DockerClient,
  type DockerClientOptions,
  type ExecOptions,
  type ExecResult,
} from './client.js';
export { DockerError, type DockerErrorCode } from './errors.js';
