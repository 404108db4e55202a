import { describe, expect, it } from 'vitest';
import { classifySshExit, ReplicationError, SyncFailedError, sshTransportError } from './errors.js';

describe('classifySshExit', () => {
  it.each([
    [255, 'ssh: connect to host 10.0.0.2 port 22: Connection refused', 'connect'],
    [255, 'ssh: Could not resolve hostname nope: Name or service not known', 'connect'],
    [255, 'ssh: connect to host 10.0.0.2 port 22: Connection timed out', 'connect'],
    [255, 'root@10.0.0.2: Permission denied (publickey).', 'auth'],
    [255, 'Host key verification failed.', 'auth'],
    [255, 'Load key "/root/.ssh/id_ed25519": invalid format', 'auth'],
    [255, 'ssh: connect to host 10.0.0.2 port 22: No route to host', 'connect'],
    [255, 'kex_exchange_identification: read: Connection reset by peer', 'connect'],
    [255, 'Connection to 10.0.0.2 closed by remote host.', 'interrupted'],
    [255, 'Connection closed by 10.0.0.2 port 22', 'interrupted'],
    [255, 'client_loop: send disconnect: Broken pipe', 'interrupted'],
    [1, 'ERROR: cannot find parent subvolume', 'remote'],
    [0, '', 'remote'],
  ] as const)('exit %i with %j is %s', (code, stderr, kind) => {
    expect(classifySshExit(code, stderr)).toBe(kind);
  });
});

describe('a hostile peer’s stderr', () => {
  // 1 MB of this blocked the daemon's event loop for 96 s under `Load key .*: `.
  const garbage = 'Load key '.repeat(1_200_000); // ~10 MB, no newline, no ": "

  it('is classified in linear time', () => {
    expect(classifySshExit(255, garbage)).toBe('auth');
    expect(classifySshExit(255, 'port 22: '.repeat(1_000_000))).toBe('interrupted');
  });

  it('makes a short message; the error keeps the tail it was given', () => {
    const error = sshTransportError('b1', 'auth', { stderr: garbage.slice(-64 * 1024) });
    expect(error.message.length).toBeLessThan(1500);
    expect(error.stderr).toHaveLength(64 * 1024 - 1); // trimmed of its trailing space
  });
});

describe('errors', () => {
  it('carry host, step, command, exit code and stderr', () => {
    const error = sshTransportError('b1', 'connect', {
      command: ['ssh', 'b1'],
      exitCode: 255,
      stderr: 'Connection refused\n',
    });
    expect(error).toMatchObject({
      code: 'SSH_CONNECT_FAILED',
      host: 'b1',
      step: 'connect',
      exitCode: 255,
      stderr: 'Connection refused',
    });
    expect(error.message).toMatch(/b1.*step: connect[\s\S]*Connection refused/);
  });

  it('a sync failure lists every failed host', () => {
    const one = new ReplicationError('SYNC_FAILED', 'h1 broke', { host: 'h1', step: 'sync' });
    const two = sshTransportError('h2', 'auth', {});
    const error = new SyncFailedError('vol', [one, two], [{ host: 'h3', durationMs: 1 }]);
    expect(error.code).toBe('SYNC_FAILED');
    expect(error.message).toContain('h1 broke');
    expect(error.message).toContain('h2');
    expect(error.failures).toHaveLength(2);
  });
});
