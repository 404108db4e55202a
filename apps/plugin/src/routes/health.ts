import {
  parseRequest,
  type StatusResponse,
  type VolumeHealthEntry,
  type VolumeStatus,
  volumeParamSchema,
} from '@buttervolume/api';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import type { VolumeHealth } from '../services/health.js';
import { asRequestError } from '../validation.js';
import type { Handlers } from './handlers.js';

/** Each volume's health, and the Prometheus metrics. */
export function healthHandlers(deps: AppDeps): Pick<Handlers, 'status' | 'metrics'> {
  return {
    status: async (c) => {
      const health = deps.health;
      if (!health) throw new PluginError('NOT_WIRED', 'this daemon was started without health');
      const raw = c.req.param('volume');
      if (raw !== undefined) {
        const volume = asRequestError(c.req.path, () => parseRequest(volumeParamSchema, raw));
        const one = await health.volume(volume);
        const response: StatusResponse = {
          Err: '',
          At: new Date().toISOString(),
          Volumes: [toWire(one)],
        };
        return c.json(response);
      }
      const report = await health.report({}, { fresh: true });
      const response: StatusResponse = {
        Err: '',
        At: report.at.toISOString(),
        Volumes: report.volumes.map(toWire),
      };
      return c.json(response);
    },

    metrics: async (c) => {
      if (!deps.metrics)
        throw new PluginError('NOT_WIRED', 'this daemon was started without metrics');
      const { contentType, chunks } = await deps.metrics.scrape();
      return c.body(Buffer.concat(chunks), 200, { 'Content-Type': contentType });
    },
  } satisfies Partial<Handlers>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toWire(health: VolumeHealth): VolumeHealthEntry {
  const { facts, assessment } = health;
  return {
    Name: facts.volume,
    Verdict: assessment.verdict,
    Reason: assessment.reason,
    Problems: assessment.problems.map((p) => ({
      Verdict: p.verdict,
      Code: p.code,
      Message: p.message,
      ...(p.host === undefined ? {} : { Host: p.host }),
      ...(p.action === undefined ? {} : { Action: p.action }),
    })),
    Snapshots: facts.snapshots,
    NewestSnapshot: iso(facts.newestSnapshot),
    Sends: facts.sends.map((s) => ({
      Host: s.host,
      LastSuccess: s.lastSuccess && {
        At: new Date(s.lastSuccess.at).toISOString(),
        Bytes: s.lastSuccess.bytes,
        Incremental: s.lastSuccess.incremental,
        DurationMs: s.lastSuccess.durationMs,
      },
      LastFailure: s.lastFailure && {
        At: new Date(s.lastFailure.at).toISOString(),
        Err: s.lastFailure.error,
      },
    })),
    Jobs: facts.jobs.map((j) => ({
      Action: j.action,
      Kind: j.kind,
      Hosts: [...j.hosts],
      Timer: j.timer,
      PeriodSeconds: j.periodMs === null ? null : Math.round(j.periodMs / 1000),
      Active: j.active,
      LastRun: iso(j.lastRun),
      LastOutcome: j.lastOutcome,
      LastError: j.lastError,
      Failures: j.failures,
      NextRun: iso(j.nextRun),
    })),
    SchedulePaused: facts.schedulePaused,
    Attention: facts.attention,
    ...(health.copyOnWrite === undefined ? {} : { CopyOnWrite: health.copyOnWrite }),
    ...(health.compression === undefined ? {} : { Compression: health.compression }),
    ...(health.quotaBytes === undefined ? {} : { QuotaBytes: health.quotaBytes }),
    ...(health.usageBytes === undefined ? {} : { UsageBytes: health.usageBytes }),
  };
}

/** The short form `docker volume inspect` shows in Status. */
export function inspectHealth(
  health: VolumeHealth,
): Pick<VolumeStatus, 'Health' | 'HealthReason' | 'NewestSnapshot' | 'LastSend'> {
  const { facts, assessment } = health;
  const sent = facts.sends.filter((s) => s.lastSuccess !== null);
  return {
    Health: assessment.verdict,
    HealthReason: assessment.reason,
    ...(facts.newestSnapshot === null ? {} : { NewestSnapshot: iso(facts.newestSnapshot)! }),
    ...(sent.length === 0
      ? {}
      : {
          LastSend: Object.fromEntries(
            sent.map((s) => [s.host, new Date(s.lastSuccess!.at).toISOString()]),
          ),
        }),
  };
}
