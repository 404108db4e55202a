import type { Assessment } from './assess.js';
import type { Limits, Thresholds, Verdict } from './facts.js';

/** Nagios/Icinga plugin exit codes. */
export const CHECK_EXIT = { OK: 0, WARN: 1, CRIT: 2, UNKNOWN: 3 } as const;
const WORDS = { OK: 'OK', WARN: 'WARNING', CRIT: 'CRITICAL' } as const;

/** A threshold the operator gave that cannot be used: the check answers UNKNOWN (3). */
export class InvalidThresholdError extends Error {
  readonly code = 'INVALID_THRESHOLD';
  constructor(
    readonly option: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${option} ${JSON.stringify(value)}: ${reason}`);
    this.name = 'InvalidThresholdError';
  }
}

const DURATION_UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const TEN_YEARS_MS = 3650 * 86_400_000;

/** "90m", "2h", "1d", "1w", "45s": a positive whole number and a unit. */
export function parseDuration(option: string, text: string): number {
  const match = /^([0-9]{1,9})([smhdw])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : Number.NaN;
  if (!(ms > 0) || ms > TEN_YEARS_MS) {
    throw new InvalidThresholdError(
      option,
      text,
      'not a duration such as 45s, 90m, 2h, 1d or 1w (a positive whole number and a unit, at most 10 years)',
    );
  }
  return ms;
}

export interface ThresholdOptions {
  snapshotWarn?: string | undefined;
  snapshotCrit?: string | undefined;
  sendWarn?: string | undefined;
  sendCrit?: string | undefined;
}

/**
 * The check's `--snapshot-warn/--snapshot-crit/--send-warn/--send-crit`. Both of a pair or
 * neither (then each volume's schedule decides), warn no later than crit.
 */
export function parseThresholds(options: ThresholdOptions): Thresholds {
  const snapshot = pair('--snapshot', options.snapshotWarn, options.snapshotCrit);
  const send = pair('--send', options.sendWarn, options.sendCrit);
  return { ...(snapshot ? { snapshot } : {}), ...(send ? { send } : {}) };
}

function pair(
  prefix: string,
  warn: string | undefined,
  crit: string | undefined,
): Limits | undefined {
  if (warn === undefined && crit === undefined) return undefined;
  if (warn === undefined || crit === undefined) {
    const missing = warn === undefined ? `${prefix}-warn` : `${prefix}-crit`;
    throw new InvalidThresholdError(missing, '', `give ${prefix}-warn and ${prefix}-crit together`);
  }
  const warnMs = parseDuration(`${prefix}-warn`, warn);
  const critMs = parseDuration(`${prefix}-crit`, crit);
  if (warnMs > critMs) {
    throw new InvalidThresholdError(`${prefix}-warn`, warn, `is later than ${prefix}-crit ${crit}`);
  }
  return { warnMs, critMs };
}

export interface CheckReport {
  readonly verdict: Verdict;
  readonly exitCode: 0 | 1 | 2;
  /** `BUTTERVOLUME <STATE> - <summary> | <perfdata>`, the plugin's one line. */
  readonly line: string;
}

/**
 * The Nagios plugin line for some volumes: the state, what is wrong (worst first, at most a
 * few volumes named), then perfdata: counts, and each measured age in seconds with its limits.
 */
export function checkReport(assessments: readonly Assessment[]): CheckReport {
  const count = (v: Verdict) => assessments.filter((a) => a.verdict === v).length;
  const crit = count('CRIT');
  const warn = count('WARN');
  const verdict: Verdict = crit > 0 ? 'CRIT' : warn > 0 ? 'WARN' : 'OK';
  const bad = assessments
    .filter((a) => a.verdict !== 'OK')
    .sort((a, b) => (a.verdict === b.verdict ? 0 : a.verdict === 'CRIT' ? -1 : 1));
  const shown = bad.slice(0, 3).map((a) => `${a.volume}: ${a.reason}`);
  if (bad.length > shown.length) shown.push(`and ${bad.length - shown.length} more`);
  const total = `${assessments.length} volume${assessments.length === 1 ? '' : 's'}`;
  const summary =
    bad.length === 0
      ? `${total} OK`
      : `${total}, ${crit} critical, ${warn} warning; ${shown.join('; ')}`;
  const perf = [
    `volumes=${assessments.length}`,
    `critical=${crit}`,
    `warning=${warn}`,
    ...assessments.flatMap(perfdataOf),
  ];
  return {
    verdict,
    exitCode: CHECK_EXIT[verdict],
    line: `BUTTERVOLUME ${WORDS[verdict]} - ${sanitize(summary)} | ${perf.join(' ')}`,
  };
}

function perfdataOf(a: Assessment): string[] {
  const out: string[] = [];
  if (a.snapshotAge?.ageMs != null)
    out.push(perf(`${a.volume} snapshot age`, a.snapshotAge.ageMs, a.snapshotAge.limits));
  for (const send of a.sendAges) {
    if (send.ageMs !== null)
      out.push(perf(`${a.volume} send age ${send.host}`, send.ageMs, send.limits));
  }
  return out;
}

function perf(label: string, ageMs: number, limits: Limits): string {
  const s = (ms: number) => Math.round(ms / 1000);
  return `'${label}'=${s(ageMs)}s;${s(limits.warnMs)};${s(limits.critMs)};0`;
}

// The plugin output is one line, and "|" starts the perfdata.
function sanitize(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replaceAll('|', '/');
}
