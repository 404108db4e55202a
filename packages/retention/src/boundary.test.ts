import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The package must load in a browser (a UI previews purges): no Node built-ins, and no
// dependencies but @buttervolume/text, which is held to the same rule here.
const PURE: Record<string, string> = {
  '@buttervolume/retention': import.meta.dirname,
  '@buttervolume/text': join(import.meta.dirname, '..', '..', 'text', 'src'),
};

describe.each(Object.entries(PURE))('package boundary of %s', (name, dir) => {
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

  it.each(sources)('%s imports only sibling modules and pure packages', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const specifiers = [...text.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)].map(
      (m) => m[1] ?? m[2] ?? '',
    );
    for (const specifier of specifiers) {
      if (specifier in PURE && specifier !== name) continue;
      expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    }
    expect(text).not.toMatch(/\b(process|Buffer|require)\b[.(]/);
  });

  it('has no dependencies but pure packages', () => {
    const pkg = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8'));
    expect(pkg.name).toBe(name);
    for (const dependency of Object.keys(pkg.dependencies ?? {})) {
      expect(Object.keys(PURE).filter((pure) => pure !== name)).toContain(dependency);
    }
  });
});
