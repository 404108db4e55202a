import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ReplicationError } from './errors.js';
import {
  AES_FIRST_CIPHERS,
  remoteCommand,
  rsyncHost,
  rsyncShell,
  shellQuote,
  sshArgv,
  sshSettings,
  withControlMaster,
} from './ssh.js';

describe('sshSettings', () => {
  it('defaults to root on port 22, batch mode and a connect timeout', () => {
    const settings = sshSettings();
    expect(settings.user).toBe('root');
    expect(settings.sshPath).toBe('ssh');
    expect(settings.args).toEqual(
      expect.arrayContaining(['-p', '22', 'BatchMode=yes', 'ConnectTimeout=10']),
    );
  });

  it('passes port, identity, known-hosts policy and extra options', () => {
    const { args } = sshSettings({
      port: 2222,
      identityFile: '/etc/buttervolume/id_ed25519',
      strictHostKeyChecking: 'accept-new',
      knownHostsFile: '/etc/buttervolume/known_hosts',
      extraOptions: ['Ciphers=aes128-gcm@openssh.com'],
      configFile: 'none',
    });
    expect(args.join(' ')).toContain('-F none -p 2222 -i /etc/buttervolume/id_ed25519');
    expect(args).toContain('StrictHostKeyChecking=accept-new');
    expect(args).toContain('UserKnownHostsFile=/etc/buttervolume/known_hosts');
    expect(args).toContain('Ciphers=aes128-gcm@openssh.com');
  });

  it('puts the operator’s options before its own defaults, so they win (ssh keeps the first)', () => {
    const { args } = sshSettings({ extraOptions: ['ConnectTimeout=5'] }, { hasAes: false });
    expect(args.indexOf('ConnectTimeout=5')).toBeGreaterThan(-1);
    expect(args.indexOf('ConnectTimeout=5')).toBeLessThan(args.indexOf('ConnectTimeout=10'));
  });

  it.each([
    { port: 0 },
    { port: 70000 },
    { port: 22.5 },
    { user: 'root; id' },
    { user: '-oProxyCommand=x' },
    { identityFile: 'relative/key' },
    { identityFile: "/tmp/it's" },
    { identityFile: '/tmp/a b' },
    { knownHostsFile: '/tmp/$(id)' },
    { extraOptions: ['ProxyCommand=sh -c id'] },
    { extraOptions: ['-oFoo=bar'] },
    { extraOptions: ["Foo='bar'"] },
    { connectTimeoutSec: 0 },
    { strictHostKeyChecking: 'maybe' as 'yes' },
  ])('rejects %j with a typed error', (options) => {
    expect(() => sshSettings(options)).toThrow(ReplicationError);
  });
});

describe('remote command quoting', () => {
  it('quotes every word so the remote shell sees the same argument array', async () => {
    const hostile = ["it's", '$(touch /tmp/bv-never)', 'a b', '`id`', ';', '"', '\\'];
    // The remote shell is a POSIX sh; run one here to prove each word survives intact.
    const line = remoteCommand(['printf', '%s\\n', ...hostile]);
    const { stdout } = await execa('sh', ['-c', line]);
    expect(stdout.split('\n')).toEqual(hostile);
  });

  it('pins the C locale remotely', () => {
    expect(remoteCommand(['btrfs', 'receive'])).toBe("'env' 'LC_ALL=C' 'btrfs' 'receive'");
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
  });

  it('puts the destination after -- and the command last', () => {
    const argv = sshArgv(sshSettings({ port: 2200 }), 'backup-1', ['true'], { compress: true });
    expect(argv.slice(-5)).toEqual(['-l', 'root', '--', 'backup-1', "'env' 'LC_ALL=C' 'true'"]);
    expect(argv).toContain('-C');
  });
});

describe('rsync -e', () => {
  it('is the ssh command with every word single-quoted', () => {
    const shell = rsyncShell(sshSettings({ port: 2200, identityFile: '/k' }));
    expect(shell.startsWith("'ssh' '-p' '2200' '-i' '/k'")).toBe(true);
  });

  it('brackets IPv6 addresses', () => {
    expect(rsyncHost('fe80::1')).toBe('[fe80::1]');
    expect(rsyncHost('10.0.0.2')).toBe('10.0.0.2');
  });
});

describe('ssh speed settings', () => {
  it('prefers AES-GCM when the CPU has AES instructions, ssh’s own order otherwise', () => {
    expect(sshSettings({}, { hasAes: true }).args).toContain(`Ciphers=${AES_FIRST_CIPHERS}`);
    expect(sshSettings({}, { hasAes: false }).args.join(' ')).not.toContain('Ciphers=');
    // Every cipher of ssh's default set stays acceptable, only the order changes.
    expect(AES_FIRST_CIPHERS.split(',')).toContain('chacha20-poly1305@openssh.com');
  });

  it('lets a Ciphers= extra option replace the default preference', () => {
    const { args } = sshSettings({ extraOptions: ['Ciphers=aes256-ctr'] }, { hasAes: true });
    expect(args.filter((a) => a.startsWith('Ciphers='))).toEqual(['Ciphers=aes256-ctr']);
  });

  it('never compresses unless asked', () => {
    const settings = sshSettings();
    expect(sshArgv(settings, 'h', ['true'])).not.toContain('-C');
    expect(sshArgv(settings, 'h', ['true'], { compress: true })).toContain('-C');
  });

  it('shares one connection per host through a private control folder', () => {
    const settings = withControlMaster(sshSettings(), '/tmp/bv-ssh-abc');
    expect(settings.args.join(' ')).toContain(
      '-o ControlMaster=auto -o ControlPath=/tmp/bv-ssh-abc/%C -o ControlPersist=5',
    );
    // rsync's -e string carries the same options.
    expect(rsyncShell(settings)).toContain("'ControlPath=/tmp/bv-ssh-abc/%C'");
    const fresh = sshSettings({ controlPersistSec: 0 });
    expect(withControlMaster(fresh, '/tmp/bv-ssh-abc')).toBe(fresh);
  });

  it.each([-1, 1.5, Number.NaN])('rejects ControlPersist %s', (controlPersistSec) => {
    expect(() => sshSettings({ controlPersistSec })).toThrow(ReplicationError);
  });

  it('refuses a control folder that could not be passed safely', () => {
    expect(() => withControlMaster(sshSettings(), '/tmp/a b')).toThrow(ReplicationError);
  });
});
