import { describe, expect, it } from 'vitest';
import { codeBlocks, logicalLines, readmeCommands, shellWords, splitChain } from './readme.js';

describe('shellWords', () => {
  it('splits plain words and removes quotes as a shell does', () => {
    expect(shellWords(`buttervolume schedule snapshot "30 2 * * *" uploads`)).toEqual([
      'buttervolume',
      'schedule',
      'snapshot',
      '30 2 * * *',
      'uploads',
    ]);
    expect(shellWords(`docker volume inspect --format '{{json .Status}}' pgdata`)).toEqual([
      'docker',
      'volume',
      'inspect',
      '--format',
      '{{json .Status}}',
      'pgdata',
    ]);
    expect(shellWords(`ssh-keygen -N '' -f a\\ b "x\\"y"`)).toEqual([
      'ssh-keygen',
      '-N',
      '',
      '-f',
      'a b',
      'x"y',
    ]);
  });

  it('refuses lines that need a shell: redirections, pipes, substitutions, globs, assignments', () => {
    for (const line of [
      `echo 'SSH_PORT=2222' >> /etc/default/buttervolume`,
      'buttervolume snapshots --socket /run/$(docker plugin inspect x)/btrfs.sock',
      'buttervolume snapshots | head',
      'ls /var/lib/*',
      'mkdir -p /a/{b,c}',
      'FOO=1 buttervolume run',
      'echo "$HOME"',
      'cd ~',
      `echo 'unterminated`,
      'a; b',
    ]) {
      expect(shellWords(line), line).toBeUndefined();
    }
  });
});

describe('README parsing', () => {
  it('joins continuations, drops comments, keeps # inside quotes and words', () => {
    const code = 'docker run \\\n  -v a:/b img # a comment\n\n# only a comment\necho "a # b" c#d';
    expect(logicalLines(code, 10)).toEqual([
      { text: 'docker run -v a:/b img', line: 10 },
      { text: 'echo "a # b" c#d', line: 14 },
    ]);
  });

  it('splits && chains outside quotes', () => {
    expect(splitChain(`a --x && b "c && d" && e`)).toEqual(['a --x', 'b "c && d"', 'e']);
  });

  it('takes the commands of sh blocks only, with their line and heading', () => {
    const markdown = [
      '# Title',
      '## Run',
      '```sh',
      'buttervolume run',
      '```',
      '```text',
      'not a command',
      '```',
      '```yaml',
      'a: b',
      '```',
    ].join('\n');
    expect(readmeCommands(markdown)).toEqual([
      { text: 'buttervolume run', line: 4, heading: 'Run', argv: ['buttervolume', 'run'] },
    ]);
    expect(codeBlocks(markdown).map((b) => b.lang)).toEqual(['sh', 'text', 'yaml']);
  });

  it('fails on a block that is never closed', () => {
    expect(() => codeBlocks('```sh\nbuttervolume run\n')).toThrow(/never closed/);
  });
});
