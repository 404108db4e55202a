import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOOK_LABELS, HookLabelError, parseHookLabels } from './hooks.js';

const parse = (labels: Record<string, string>) => parseHookLabels(labels, 60_000);

describe('parseHookLabels', () => {
  it('reads nothing from a container without hook labels', () => {
    expect(parse({ 'com.docker.compose.project': 'x' })).toEqual({
      pre: undefined,
      post: undefined,
      continueOnFailure: false,
      timeoutMs: 60_000,
    });
  });

  it('takes a JSON array as argv and anything else as the container’s sh -c', () => {
    const hooks = parse({
      [HOOK_LABELS.pre]: '["psql", "-c", "CHECKPOINT"]',
      [HOOK_LABELS.post]: 'echo done > /data/marker',
      [HOOK_LABELS.onFailure]: 'continue',
      [HOOK_LABELS.timeout]: '5',
    });
    expect(hooks.pre).toEqual({ argv: ['psql', '-c', 'CHECKPOINT'], form: 'argv' });
    expect(hooks.post).toEqual({ argv: ['sh', '-c', 'echo done > /data/marker'], form: 'shell' });
    expect(hooks.continueOnFailure).toBe(true);
    expect(hooks.timeoutMs).toBe(5000);
  });

  it.each([
    [HOOK_LABELS.pre, ''],
    [HOOK_LABELS.pre, '   '],
    [HOOK_LABELS.pre, '[]'],
    [HOOK_LABELS.pre, '["a", 1]'],
    [HOOK_LABELS.pre, '[""]'],
    [HOOK_LABELS.pre, '["a"'],
    [HOOK_LABELS.pre, '{"cmd": "x"}'.replace('{', '[')],
    [HOOK_LABELS.post, 'x'.repeat(5000)],
    [HOOK_LABELS.onFailure, 'ignore'],
    [HOOK_LABELS.timeout, '0'],
    [HOOK_LABELS.timeout, '-1'],
    [HOOK_LABELS.timeout, '1e3'],
    [HOOK_LABELS.timeout, '3601'],
    [HOOK_LABELS.timeout, '$(touch /tmp/p)'],
  ])('refuses %s=%j naming the label', (label, value) => {
    expect(() => parse({ [label]: value })).toThrow(HookLabelError);
    expect(() => parse({ [label]: value })).toThrow(`label ${label}:`);
  });

  it('never turns a label into anything but argv for the container (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (value) => {
        try {
          const { pre } = parse({ [HOOK_LABELS.pre]: value });
          expect(pre).toBeDefined();
          if (pre?.form === 'shell') expect(pre.argv).toEqual(['sh', '-c', value]);
          else expect(pre?.argv).toEqual(JSON.parse(value));
        } catch (error) {
          expect(error).toBeInstanceOf(HookLabelError);
        }
      }),
    );
  });
});
