import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/**
 * A real Prometheus server (Debian's `prometheus` package, /usr/bin/prometheus) of the test's
 * own: its own config, its own TSDB in a temp folder, listening on a free loopback port, never
 * the system service. Scrapes the given loopback targets every `scrapeIntervalSeconds`.
 */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** An instant query; the API's `data.result`. */
  query(expr: string): Promise<PrometheusSample[]>;
  /** Polls `query(expr)` until `accept` says yes (or throws after `timeoutMs`, with the last answer). */
  waitFor(
    expr: string,
    accept: (samples: PrometheusSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PrometheusSample[]>;
  /** The scrape targets' health as Prometheus sees them (`/api/v1/targets`). */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

export interface PrometheusSample {
  metric: Record<string, string>;
  /** [unix seconds, value as text] */
  value: [number, string];
}

export interface PrometheusOptions {
  /** `host:port` on loopback, each scraped at `/metrics`. */
  targets: readonly string[];
  scrapeIntervalSeconds?: number;
  /** Rule files loaded by the server (alerting rules under test). */
  ruleFiles?: readonly string[];
}

/** A TCP port free on 127.0.0.1 right now (the kernel's pick). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  for (const target of options.targets) {
    if (!/^(127\.0\.0\.1|\[::1\]|localhost):[0-9]{1,5}$/.test(target)) {
      throw new Error(`Prometheus test targets must be on loopback, got ${target}`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'bv-prom-'));
  const interval = options.scrapeIntervalSeconds ?? 1;
  const config = {
    global: { scrape_interval: `${interval}s`, evaluation_interval: `${interval}s` },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [
      {
        job_name: 'buttervolume',
        scrape_interval: `${interval}s`,
        scrape_timeout: `${interval}s`,
        static_configs: [{ targets: options.targets }],
      },
    ],
  };
  // JSON is YAML: no YAML library needed.
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  let child: Child | undefined;
  let lastLog = '';
  let url = '';
  try {
    // A port picked free may be taken before Prometheus binds it: try a few.
    for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
      const port = await freeLoopbackPort();
      url = `http://127.0.0.1:${port}`;
      const started = spawnPrometheus([
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.console.templates=/dev/null',
        '--web.console.libraries=/dev/null',
      ]);
      if (await ready(url, started)) child = started;
      else {
        started.kill('SIGKILL');
        lastLog = (await started).stderr.slice(-2000);
      }
    }
    if (child === undefined) {
      throw new Error(`Prometheus did not become ready on loopback:\n${lastLog}`);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const running = child;

  const query = async (expr: string): Promise<PrometheusSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: PrometheusSample[] };
    };
    if (body.status !== 'success') throw new Error(`Prometheus query ${expr}: ${body.error}`);
    return body.data?.result ?? [];
  };
  return {
    url,
    query,
    async waitFor(expr, accept, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last: PrometheusSample[] = [];
      while (Date.now() < deadline) {
        last = await query(expr);
        if (accept(last)) return last;
        await sleep(250);
      }
      throw new Error(
        `Prometheus: ${expr} never gave the expected answer; last: ${JSON.stringify(last)}`,
      );
    },
    async targets() {
      const response = await fetch(`${url}/api/v1/targets`);
      const body = (await response.json()) as {
        data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
      };
      return body.data.activeTargets;
    },
    async stop() {
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await running;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function spawnPrometheus(args: string[]) {
  // Its log is kept in memory (a short test writes a few kB) and shown when it fails to start.
  return execa('prometheus', args, { reject: false, stdin: 'ignore' });
}

type Child = ReturnType<typeof spawnPrometheus>;

async function ready(url: string, child: Child): Promise<boolean> {
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return false;
}
