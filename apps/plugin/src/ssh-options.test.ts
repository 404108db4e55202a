import { loadConfig } from '@buttervolume/config';
import { sshSettings } from '@buttervolume/replication';
import { describe, expect, it } from 'vitest';
import { sshOptionsOf } from './daemon.js';

describe('sshOptionsOf', () => {
  it('gives the replicator the configured remote-step and stall timeouts', () => {
    const config = loadConfig({
      env: { BUTTERVOLUME_SSH_COMMAND_TIMEOUT: '15', BUTTERVOLUME_TRANSFER_STALL_TIMEOUT: '30' },
      iniPath: '/nonexistent/config.ini',
    });
    const settings = sshSettings(sshOptionsOf(config), { hasAes: false });
    expect(settings.commandTimeoutMs).toBe(15_000);
    expect(settings.stallTimeoutMs).toBe(30_000);
  });
});
