import { mkdir, rm, rmdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { StorageError } from './errors.js';
import { type InitStorageOptions, planStorage, type Step, type StoragePlan } from './plan.js';

export interface InitStorageResult extends StoragePlan {
  /** False for a dry run: `steps` were planned, none ran. */
  applied: boolean;
}

/**
 * Makes sure volumes and snapshots live on btrfs: when they do not, creates a sparse image,
 * formats it, loop-mounts it and (optionally) installs a systemd mount unit. Idempotent:
 * a second run finds btrfs and does nothing. On failure, undoes what it did.
 */
export async function initStorage(options: InitStorageOptions = {}): Promise<InitStorageResult> {
  const plan = await planStorage(options);
  if (options.dryRun) return { ...plan, applied: false };
  await applyPlan(plan.steps);
  return { ...plan, applied: true };
}

/** Runs the steps in order; if one fails, undoes the earlier ones (newest first) and throws. */
export async function applyPlan(steps: readonly Step[]): Promise<void> {
  const undo: Array<() => Promise<void>> = [];
  try {
    for (const step of steps) {
      const revert = await applyStep(step);
      if (revert) undo.push(revert);
    }
  } catch (error) {
    const stuck: string[] = [];
    for (const revert of undo.reverse()) {
      await revert().catch((failure: unknown) => stuck.push((failure as Error).message));
    }
    // What could not be undone is named, so the user knows what to clean by hand.
    if (stuck.length > 0) {
      (error as Error).message += `; undoing the earlier steps failed too: ${stuck.join('; ')}`;
    }
    throw error;
  }
}

async function applyStep(step: Step): Promise<(() => Promise<void>) | undefined> {
  switch (step.kind) {
    case 'mkdir': {
      const created = await mkdir(step.path, { recursive: true });
      return created === undefined ? undefined : () => removeCreatedDirs(created, step.path);
    }
    case 'create-image':
      // 'wx': never truncate a file that appeared since planning.
      await writeFile(step.path, '', { flag: 'wx' });
      await truncate(step.path, step.bytes);
      return () => rm(step.path, { force: true });
    case 'mkfs':
      await run(['mkfs.btrfs', '-q', '-L', step.label, '--', step.image]);
      return undefined;
    case 'mount':
      // mount(8) sets up the loop device with autoclear: unmounting frees it.
      await run(['mount', '-t', 'btrfs', '-o', 'loop', '--', step.image, step.mountPoint]);
      return () => run(['umount', '--', step.mountPoint]).then(() => {});
    case 'write-unit':
      await mkdir(dirname(step.path), { recursive: true });
      await writeFile(step.path, step.content);
      return () => rm(step.path, { force: true });
    case 'enable-unit':
      await mkdir(dirname(step.link), { recursive: true });
      await symlink(step.target, step.link);
      return () => rm(step.link, { force: true });
    case 'run':
      await run(step.command);
      return undefined;
  }
}

/** Removes the directories `mkdir -p` created, from `leaf` up to `first` (the topmost new one). */
async function removeCreatedDirs(first: string, leaf: string): Promise<void> {
  let current = leaf;
  for (;;) {
    await rmdir(current);
    if (current === first) return;
    current = dirname(current);
  }
}

async function run(command: readonly string[]): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) return;
  const result = await execa(file, args, { reject: false });
  if (result.exitCode !== 0 || result.failed) {
    const stderr = String(result.stderr ?? '').trim();
    throw new StorageError(
      'COMMAND_FAILED',
      `${command.join(' ')} failed (exit code ${result.exitCode ?? 'none'}): ${stderr || result.message}. Fix the cause and run init again; nothing was left half-done.`,
      { command, ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}), stderr },
    );
  }
}
