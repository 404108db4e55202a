import { execFileSync } from 'node:child_process';

/** Why a real-environment test cannot run here, or undefined when it can. */
export function missingRequirement(tools: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'these tests need root (loop devices, mounts, namespaces)';
  for (const tool of tools) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      return `these tests need '${tool}' on PATH (run .ci/run, or apt-get install it)`;
    }
  }
  return undefined;
}

/**
 * Fails loudly when the real environment is missing. Integration tests call this first:
 * a missing root/btrfs/docker is a failure, never a silent skip.
 */
export function requireRealEnvironment(tools: readonly string[] = []): void {
  const missing = missingRequirement(tools);
  if (missing) throw new Error(`Integration test cannot run: ${missing}.`);
}
