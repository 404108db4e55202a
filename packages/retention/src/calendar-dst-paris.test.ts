import { describeDst } from '../test/dst-scenario.js';

process.env.TZ = 'Europe/Paris';

describeDst(
  'Europe/Paris',
  { month: 2, day: 29, skipped: '2026-03-29 02h' },
  { month: 9, day: 25 },
);
