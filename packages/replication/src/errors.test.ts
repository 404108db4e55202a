import { describe, expect, it } from 'vitest';
import { classifySshExit, ReplicationError, SyncFailedError, sshTransportError } from './errors.js';

describe('classifySshExit', () => {
  it.each([
    [255, 'ssh: connect to host 10.0.0.2 port 22: Connection refused', 'connect'],
    [255, 'ssh: Could not resolve hostname nope: Name or service not known', 'connect'],
    [255, 'ssh: connect to host 10.0.0.2 port 22: Connection timed out', 'connect'],
    [255, 'root@10.0.0.2: Permission denied (publickey).', 'auth'],
    [255, 'Host key verification failed.', 'auth'],
    [255, 'Connection to 10.0.0.2 closed by remote host.', 'interrupted'],
    [255, 'Connection closed by 10.0.0.2 port 22', 'interrupted'],
    [255, 'client_loop: send disconnect: Broken pipe', 'interrupted'],
    [1, 'ERROR: cannot find parent subvolume', 'remote'],
    [0, '', 'remote'],
  ] as const)('exit %i with %j is %s', (code, stderr, kind) => {
    expect(classifySshExit(code, stderr)).toBe(kind);
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
