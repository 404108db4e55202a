import { describeDst } from '../test/dst-scenario.js';

process.env.TZ = 'America/New_York';

describeDst(
  'America/New_York',
  { month: 2, day: 8, skipped: '2026-03-08 02h' },
  { month: 10, day: 1 },
);
