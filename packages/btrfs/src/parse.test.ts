import { describe, expect, it } from 'vitest';
import {
  parseBtrfsTime,
  parseLsattrBatch,
  parseLsattrNocow,
  parseQgroupShow,
  parseReceived,
  parseSnapshotList,
  parseSubvolumeList,
  parseSubvolumeShow,
} from './parse.js';

// Captured from btrfs-progs v6.2 on kernel 6.x.
const RECEIVED_SHOW = `r/s1
\tName: \t\t\ts1
\tUUID: \t\t\t5010cba3-d3dc-204f-bb79-3c7e65dffc3a
\tParent UUID: \t\t-
\tReceived UUID: \t\td0b6e2cf-45ce-c746-8879-b756354e618d
\tCreation time: \t\t2026-11-26 14:06:35 +0000
\tSubvolume ID: \t\t258
\tGeneration: \t\t8
\tGen at creation: \t8
\tParent ID: \t\t5
\tTop level ID: \t\t5
\tFlags: \t\t\treadonly
\tSend transid: \t\t7
\tSend time: \t\t2026-11-26 14:06:35 +0000
\tReceive transid: \t8
\tReceive time: \t\t2026-11-26 14:06:35 +0000
\tSnapshot(s):
`;

const SNAPSHOT_SHOW = `s1
\tName: \t\t\ts1
\tUUID: \t\t\td0b6e2cf-45ce-c746-8879-b756354e618d
\tParent UUID: \t\t4b0e771e-e5a3-4343-be56-419a94bc4d85
\tReceived UUID: \t\t-
\tCreation time: \t\t2026-11-26 15:06:35 +0100
\tSubvolume ID: \t\t257
\tGeneration: \t\t7
\tGen at creation: \t7
\tParent ID: \t\t5
\tTop level ID: \t\t5
\tFlags: \t\t\t-
\tSnapshot(s):
\t\t\t\ts2
`;

describe('parseSubvolumeShow', () => {
  it('reads UUIDs, flags, generation, id and creation time of a received snapshot', () => {
    expect(parseSubvolumeShow(RECEIVED_SHOW, '/m/r/s1')).toEqual({
      path: '/m/r/s1',
      uuid: '5010cba3-d3dc-204f-bb79-3c7e65dffc3a',
      parentUuid: undefined,
      receivedUuid: 'd0b6e2cf-45ce-c746-8879-b756354e618d',
      readonly: true,
      generation: 8,
      generationAtCreation: 8,
      creationTime: new Date('2026-11-26T14:06:35Z'),
      id: 258,
    });
  });

  it('reads the parent UUID of a writable snapshot and honours the time zone offset', () => {
    const info = parseSubvolumeShow(SNAPSHOT_SHOW, '/m/s1');
    expect(info.parentUuid).toBe('4b0e771e-e5a3-4343-be56-419a94bc4d85');
    expect(info.receivedUuid).toBeUndefined();
    expect(info.readonly).toBe(false);
    expect(info.creationTime?.toISOString()).toBe('2026-11-26T14:06:35.000Z');
  });

  it('refuses output without the fields it relies on', () => {
    expect(() => parseSubvolumeShow('ERROR: something\n', '/x')).toThrow(/unexpected/);
  });
});

describe('parseBtrfsTime', () => {
  it('is undefined for "-" and garbage', () => {
    expect(parseBtrfsTime('-')).toBeUndefined();
    expect(parseBtrfsTime('yesterday')).toBeUndefined();
    expect(parseBtrfsTime(undefined)).toBeUndefined();
  });
});

describe('parseQgroupShow', () => {
  const table = `Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive   Path
--------    ----------    ---------  --------------  -------------   ----
0/256            16384        16384         1000000           none   a
1/1              16384        16384            none           none   <under qgroup>
`;
  it('reads the level-0 row with raw numbers and the limit', () => {
    expect(parseQgroupShow(table)).toEqual({ referenced: 16384, exclusive: 16384, limit: 1000000 });
  });
  it('has no limit when it says none, and matches the requested id only', () => {
    const noLimit = table.replace('1000000', '   none');
    expect(parseQgroupShow(noLimit)?.limit).toBeUndefined();
    expect(parseQgroupShow(table, 257)).toBeUndefined();
    expect(parseQgroupShow(table, 256)?.referenced).toBe(16384);
  });
});

describe('parseReceived', () => {
  it('takes the name from "At subvol" and "At snapshot" lines, the last one winning', () => {
    expect(parseReceived('At subvol s1\n')).toBe('s1');
    expect(parseReceived('At snapshot vol@2026 with spaces\n')).toBe('vol@2026 with spaces');
    expect(parseReceived('At subvol a\nAt snapshot b\n')).toBe('b');
    expect(parseReceived('')).toBeUndefined();
  });
});

describe('parseLsattrNocow', () => {
  it('sees the C attribute', () => {
    expect(parseLsattrNocow('---------------C------ /m/-dash')).toBe(true);
    expect(parseLsattrNocow('---------------------- /m/C')).toBe(false);
    expect(() => parseLsattrNocow('lsattr: Operation not supported')).toThrow();
  });
});

// Captured from btrfs-progs v6.2 (`btrfs subvolume list -a -s`, TZ=UTC), plus hand-made lines for
// a path with " otime " in it, a missing otime and a name with a newline.
const SNAPSHOT_LIST = `ID 258 gen 7 cgen 7 top level 256 otime 2026-11-26 15:08:52 path @/volumes/b c
ID 259 gen 8 cgen 8 top level 256 otime 2026-11-26 15:08:53 path @/volumes/a@snap
ID 10271 gen 22 cgen 22 top level 10270 otime 2026-11-26 15:10:29 path <FS_TREE>/volumes/dir/nested/snapinside
ID 300 gen 9 cgen 9 top level 5 otime 2026-01-02 03:04:05 path x otime 2020-01-01 00:00:00 path y
ID 301 gen 9 cgen 9 top level 5 otime - path old
ID 302 gen 9 cgen 9 top level 5 otime 2026-11-26 15:10:30 path volumes/nl
second line
ID 303 gen 9 cgen 9 top level 5 otime 2026-11-26 15:10:31 path volumes/last
`;

describe('parseSnapshotList', () => {
  it('reads id, top-level path (without <FS_TREE>/) and otime as UTC', () => {
    expect(parseSnapshotList(SNAPSHOT_LIST)).toEqual([
      { id: 258, path: '@/volumes/b c', otime: new Date('2026-11-26T15:08:52Z') },
      { id: 259, path: '@/volumes/a@snap', otime: new Date('2026-11-26T15:08:53Z') },
      {
        id: 10271,
        path: 'volumes/dir/nested/snapinside',
        otime: new Date('2026-11-26T15:10:29Z'),
      },
      {
        id: 300,
        path: 'x otime 2020-01-01 00:00:00 path y',
        otime: new Date('2026-01-02T03:04:05Z'),
      },
      { id: 301, path: 'old', otime: undefined },
      { id: 302, path: 'volumes/nl\nsecond line', otime: new Date('2026-11-26T15:10:30Z') },
      { id: 303, path: 'volumes/last', otime: new Date('2026-11-26T15:10:31Z') },
    ]);
  });

  it('answers nothing for an empty listing, and ignores text before the first entry', () => {
    expect(parseSnapshotList('')).toEqual([]);
    expect(parseSnapshotList('WARNING: something\n')).toEqual([]);
  });
});

// Captured from btrfs-progs v6.2 (`btrfs subvolume list`), plus a path with " top level " in it
// and a name with a newline.
const SUBVOLUME_LIST = `ID 256 gen 3007 top level 5 path volumes/v
ID 257 gen 7 top level 256 path <FS_TREE>/volumes/v/inner
ID 259 gen 7 top level 257 path volumes/v/inner/x top level 3 path y
ID 260 gen 7 top level 5 path snapshots/nl
second line
`;

describe('parseSubvolumeList', () => {
  it('reads id, the holding subvolume and the top-level path (without <FS_TREE>/)', () => {
    expect(parseSubvolumeList(SUBVOLUME_LIST)).toEqual([
      { id: 256, parentId: 5, path: 'volumes/v' },
      { id: 257, parentId: 256, path: 'volumes/v/inner' },
      { id: 259, parentId: 257, path: 'volumes/v/inner/x top level 3 path y' },
      { id: 260, parentId: 5, path: 'snapshots/nl\nsecond line' },
    ]);
  });

  it('answers nothing for an empty listing, and ignores text before the first entry', () => {
    expect(parseSubvolumeList('')).toEqual([]);
    expect(parseSubvolumeList('WARNING: something\n')).toEqual([]);
  });
});

describe('parseLsattrBatch', () => {
  it('maps each path (spaces kept) to its C and c flags', () => {
    const stdout = [
      '---------------------- /m/volumes/v00000',
      '---------------C------ /m/volumes/v00001',
      '--------------e------- /m/volumes/we ird  name',
      '--------c------------- /m/volumes/zstd',
      '---------------------m /m/volumes/none',
      'not an lsattr line',
    ].join('\n');
    const plain = { nocow: false, compressed: false };
    expect(parseLsattrBatch(stdout)).toEqual(
      new Map([
        ['/m/volumes/v00000', plain],
        ['/m/volumes/v00001', { nocow: true, compressed: false }],
        ['/m/volumes/we ird  name', plain],
        ['/m/volumes/zstd', { nocow: false, compressed: true }],
        ['/m/volumes/none', plain],
      ]),
    );
  });
});
