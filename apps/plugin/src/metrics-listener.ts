// The optional TCP listener of METRICS_ADDRESS. It serves GET /metrics and nothing else: the
// API stays on the root-only unix socket, and no path, method or body reaches the app here.
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '@buttervolume/config';
import { DaemonStartError } from './errors.js';
import type { Logger } from './log.js';
import type { DaemonMetrics } from './metrics.js';

export interface MetricsListener {
  /** `host:port` as bound (the port the kernel gave when 0 was asked). */
  address: string;
  close(): Promise<void>;
}

export async function serveMetrics(
  metrics: Pick<DaemonMetrics, 'scrape'>,
  at: ListenAddress,
  logger: Logger,
): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found: this listener serves /metrics only\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed: GET /metrics\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, chunks }) => {
        const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': length });
        // Written as they are: the cached per-volume Buffer is neither copied nor re-encoded.
        if (req.method !== 'HEAD') for (const chunk of chunks) res.write(chunk);
        res.end();
      },
      (error: unknown) => {
        logger.error('metrics scrape failed', { error });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('scrape failed: see the daemon log\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new DaemonStartError(
          `cannot listen on METRICS_ADDRESS ${formatAddress(at.host, at.port)} (${error.code ?? error.message}): ` +
            'choose a free port and an address of this host, or unset METRICS_ADDRESS',
          { cause: error },
        ),
      );
    });
    server.listen(at.port, at.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : at.port;
  return {
    address: formatAddress(at.host, port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
