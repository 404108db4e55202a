import { type HostName, SnapshotName } from '@buttervolume/names';
import { describe, expect, it } from 'vitest';
import { markersFor, planMarkers } from './markers.js';

const h = 'backup' as HostName;
const s = (ts: string) => SnapshotName.parse(`vol@2026-01-01T${ts}.000000`);

describe('markersFor', () => {
  it('keeps only the markers of this volume and host, oldest first', () => {
    const names = [
      `${s('10:00:00')}@backup`,
      `${s('09:00:00')}@backup`,
      `${s('11:00:00')}@other`,
      `other@2026-01-01T12:00:00.000000@backup`,
      s('12:00:00'),
      'vol',
      'garbage@x@y',
    ];
    expect(markersFor(names, 'vol', h).map((m) => m.snapshot)).toEqual([
      s('09:00:00'),
      s('10:00:00'),
    ]);
  });
});

describe('planMarkers', () => {
  const existing = markersFor([`${s('09:00:00')}@backup`, `${s('10:00:00')}@backup`], 'vol', h);

  it('creates the new marker and drops every older one', () => {
    expect(planMarkers(existing, s('11:00:00'), h)).toEqual({
      create: `${s('11:00:00')}@backup`,
      remove: [`${s('09:00:00')}@backup`, `${s('10:00:00')}@backup`],
    });
  });

  it('does not move the marker back when an older snapshot is sent again', () => {
    expect(planMarkers(existing, s('08:00:00'), h)).toEqual({
      create: undefined,
      remove: [`${s('09:00:00')}@backup`],
    });
  });

  it('keeps an existing marker for the same snapshot', () => {
    expect(planMarkers(existing, s('10:00:00'), h)).toEqual({
      create: undefined,
      remove: [`${s('09:00:00')}@backup`],
    });
  });
});
