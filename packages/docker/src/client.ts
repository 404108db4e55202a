import type { Client } from 'undici';
import { codeForStatus, DockerError } from './errors.js';
import { killExecProcesses } from './exec-kill.js';
import { FrameDemuxer } from './frames.js';

export interface DockerClientOptions {
  /** The Engine API's unix socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** A single API call (not an exec) taking longer fails with DOCKER_TIMEOUT (default 30 s). */
  requestTimeoutMs?: number;
}

/** A container as /containers/json lists it, reduced to what buttervolume uses. */
export interface ContainerSummary {
  id: string;
  /** Without Docker's leading `/`. */
  name: string;
  /** running, paused, exited, created, restarting, removing, dead. */
  state: string;
  labels: Readonly<Record<string, string>>;
  /** Names of the named volumes it mounts (bind mounts and tmpfs left out). */
  volumes: readonly string[];
  /** Its main process (host PID namespace); only from inspectContainer, 0 when not running. */
  pid?: number;
}

export interface ExecOptions {
  /** The command is abandoned (and its processes killed where we can see them) after this. */
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept each (default 4096); the rest is counted, not kept. */
  outputLimit?: number;
  /** Run as this user inside the container (Docker's `User`, e.g. `postgres`). */
  user?: string;
}

export interface ExecResult {
  /** The command's exit code; undefined when it timed out. */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Some output was dropped past `outputLimit`. */
  truncated: boolean;
  timedOut: boolean;
  /** After a time-out: how many of its processes were killed (0 when none could be seen). */
  killed: number;
  ms: number;
}

interface RawContainer {
  Id?: unknown;
  Names?: unknown;
  State?: unknown;
  Labels?: unknown;
  Mounts?: unknown;
}

const DEFAULT_OUTPUT_LIMIT = 4096;

/**
 * The Docker Engine API over its unix socket, through undici (no hand-written HTTP). Paths
 * are unversioned: the daemon answers with its own API version, and every field used here
 * has been stable since API 1.24.
 */
export class DockerClient {
  readonly socketPath: string;
  #client: Promise<Client> | undefined;
  readonly #timeoutMs: number;

  constructor(options: DockerClientOptions) {
    this.socketPath = options.socketPath;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /**
   * undici is loaded on the first call: a daemon whose volumes never pause containers nor
   * probe mounts does not carry it (~20 MB of RSS).
   */
  #connection(): Promise<Client> {
    this.#client ??= import('undici').then(
      ({ Client }) =>
        new Client('http://docker', {
          socketPath: this.socketPath,
          // exec start streams until the command ends; timeouts are ours, per call.
          bodyTimeout: 0,
          headersTimeout: 0,
        }),
    );
    return this.#client;
  }

  /** Resolves when the Engine answers; DOCKER_UNAVAILABLE otherwise. */
  async ping(): Promise<void> {
    await this.#call('GET', '/_ping', undefined, 'text');
  }

  /** Containers (running or not) that mount the named volume. */
  async containersUsingVolume(volume: string): Promise<ContainerSummary[]> {
    const list = await this.listContainers({ volume: [volume] });
    // The volume filter also matches a mount destination of that name: keep real users only.
    return list.filter((c) => c.volumes.includes(volume));
  }

  /**
   * Whether Docker has finished creating the container (its `create` event exists). Docker's
   * copy-up Mount of a volume happens inside container create, before that event; the
   * container's real Mount at start comes after it.
   */
  async createFinished(id: string): Promise<boolean> {
    const filters = encodeURIComponent(
      JSON.stringify({ type: ['container'], event: ['create'], container: [id] }),
    );
    const until = (Date.now() / 1000).toFixed(3);
    const text = (await this.#call(
      'GET',
      `/events?since=0&until=${until}&filters=${filters}`,
      undefined,
      'text',
    )) as string;
    return text.trim() !== '';
  }

  /** The containers of a compose project (label com.docker.compose.project). */
  projectContainers(project: string): Promise<ContainerSummary[]> {
    return this.listContainers({ label: [`${COMPOSE_PROJECT_LABEL}=${project}`] });
  }

  /** /containers/json?all=1 with Docker's filters (volume, label, id, status…). */
  async listContainers(
    filters: Record<string, readonly string[]> = {},
  ): Promise<ContainerSummary[]> {
    const query = `all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`;
    const body = await this.#call('GET', `/containers/json?${query}`);
    if (!Array.isArray(body)) {
      throw new DockerError('DOCKER_API_ERROR', 'GET /containers/json did not answer a list');
    }
    return body.map((raw: RawContainer) => summaryOf(raw));
  }

  async inspectContainer(id: string): Promise<ContainerSummary> {
    const raw = (await this.#call('GET', `/containers/${encodeURIComponent(id)}/json`)) as {
      Id?: unknown;
      Name?: unknown;
      State?: { Status?: unknown; Pid?: unknown };
      Config?: { Labels?: unknown };
      Mounts?: unknown;
    };
    const pid = raw.State?.Pid;
    return {
      ...summaryOf({
        Id: raw.Id,
        Names: [raw.Name],
        State: raw.State?.Status,
        Labels: raw.Config?.Labels,
        Mounts: raw.Mounts,
      }),
      pid: typeof pid === 'number' && Number.isSafeInteger(pid) ? pid : 0,
    };
  }

  /** Freezes every process of the container (the cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/pause`, undefined, 'text');
  }

  async unpause(id: string): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/unpause`, undefined, 'text');
  }

  /**
   * Runs `argv` inside the container (exec create + start + inspect). Never a shell on this
   * side: argv goes to Docker as a list, and the container's runtime execs it directly.
   */
  async exec(id: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
    const started = performance.now();
    const created = (await this.#call('POST', `/containers/${encodeURIComponent(id)}/exec`, {
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: [...argv],
      ...(options.user === undefined ? {} : { User: options.user }),
    })) as { Id?: unknown };
    if (typeof created?.Id !== 'string') {
      throw new DockerError('DOCKER_API_ERROR', `exec create on ${id} answered no Id`);
    }
    const execId = created.Id;
    const demux = new FrameDemuxer(options.outputLimit ?? DEFAULT_OUTPUT_LIMIT);
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, options.timeoutMs);
    try {
      const { statusCode, body } = await (await this.#connection()).request({
        method: 'POST',
        path: `/exec/${encodeURIComponent(execId)}/start`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Detach: false, Tty: false }),
        signal: abort.signal,
      });
      if (statusCode >= 300) {
        const text = await body.text();
        throw apiError('POST', `/exec/${execId}/start`, statusCode, text);
      }
      for await (const chunk of body) demux.push(chunk as Buffer);
    } catch (error) {
      if (!timedOut) throw this.#wrap(error, 'POST', `/exec/${execId}/start`);
    } finally {
      clearTimeout(timer);
    }
    let killed = 0;
    let exitCode: number | undefined;
    if (timedOut) {
      // The exec may be gone already (it ended as the timer fired): nothing left to kill.
      const inspect = await this.#inspectExec(execId).catch(() => undefined);
      if (inspect?.running && inspect.pid > 0) {
        killed = await killExecProcesses(inspect.pid, inspect.containerId);
      }
    } else {
      exitCode = (await this.#inspectExec(execId)).exitCode;
    }
    return {
      exitCode,
      stdout: demux.stdout.text(),
      stderr: demux.stderr.text(),
      truncated: demux.stdout.truncated || demux.stderr.truncated,
      timedOut,
      killed,
      ms: Math.round(performance.now() - started),
    };
  }

  async close(): Promise<void> {
    // Closing a pool whose sockets already failed may reject: there is nothing left to free.
    await this.#client?.then((client) => client.close()).catch(() => {});
  }

  async #inspectExec(
    execId: string,
  ): Promise<{ running: boolean; exitCode: number | undefined; pid: number; containerId: string }> {
    const raw = (await this.#call('GET', `/exec/${encodeURIComponent(execId)}/json`)) as {
      Running?: unknown;
      ExitCode?: unknown;
      Pid?: unknown;
      ContainerID?: unknown;
    };
    return {
      containerId: String(raw.ContainerID ?? ''),
      running: raw.Running === true,
      exitCode: typeof raw.ExitCode === 'number' ? raw.ExitCode : undefined,
      pid: typeof raw.Pid === 'number' ? raw.Pid : 0,
    };
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    json?: unknown,
    as: 'json' | 'text' = 'json',
  ): Promise<unknown> {
    try {
      const { statusCode, body } = await (await this.#connection()).request({
        method,
        path,
        ...(json === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await body.text();
      if (statusCode >= 300) throw apiError(method, path, statusCode, text);
      if (as === 'text') return text;
      return text === '' ? null : JSON.parse(text);
    } catch (error) {
      throw this.#wrap(error, method, path);
    }
  }

  #wrap(error: unknown, method: string, path: string): DockerError {
    if (error instanceof DockerError) return error;
    const request = `${method} ${path.split('?')[0]}`;
    const code = (error as { code?: unknown }).code;
    if (
      code === 'ENOENT' ||
      code === 'ECONNREFUSED' ||
      code === 'EACCES' ||
      code === 'ENOTSOCK' ||
      // undici's SocketError, by its code: undici itself is only loaded on the first call.
      code === 'UND_ERR_SOCKET'
    ) {
      return new DockerError(
        'DOCKER_UNAVAILABLE',
        `Docker does not answer on ${this.socketPath} (${String(code ?? (error as Error).message)}): start Docker, or set BUTTERVOLUME_DOCKER_SOCKET to its socket (the managed plugin: enable its docker.sock mount)`,
        { request, cause: error },
      );
    }
    if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') {
      return new DockerError(
        'DOCKER_TIMEOUT',
        `Docker did not answer ${request} within ${this.#timeoutMs} ms`,
        { request, cause: error },
      );
    }
    return new DockerError('DOCKER_API_ERROR', `${request}: ${(error as Error).message}`, {
      request,
      cause: error,
    });
  }
}

/** The label docker compose puts on a project's containers, networks and volumes. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

function apiError(method: string, path: string, status: number, text: string): DockerError {
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // A plain-text answer: keep it as it is.
  }
  const request = `${method} ${path.split('?')[0]}`;
  return new DockerError(
    codeForStatus(status),
    `Docker refused ${request} (HTTP ${status}): ${message.slice(0, 500)}`,
    {
      request,
      statusCode: status,
    },
  );
}

function summaryOf(raw: RawContainer): ContainerSummary {
  const names = Array.isArray(raw.Names) ? raw.Names : [];
  const mounts = Array.isArray(raw.Mounts)
    ? (raw.Mounts as { Type?: unknown; Name?: unknown }[])
    : [];
  return {
    id: String(raw.Id ?? ''),
    name: String(names[0] ?? '').replace(/^\//, ''),
    state: String(raw.State ?? ''),
    labels: labelsOf(raw.Labels),
    volumes: mounts
      .filter((m) => m.Type === 'volume' && typeof m.Name === 'string')
      .map((m) => m.Name as string),
  };
}

function labelsOf(raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null) return {};
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string') labels[key] = value;
  }
  return labels;
}
