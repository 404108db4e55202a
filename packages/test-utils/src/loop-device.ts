// Loop devices for the fixtures' btrfs images (loop-btrfs, host B's disks).
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

// Two test files attaching at once can both be handed the same free device by the kernel;
// the loser gets EBUSY, and simply asking again gives it the next one.
export async function attachLoop(image: string): Promise<string> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const { stdout } = await execa('losetup', ['--find', '--show', '--', image]);
      const device = stdout.trim();
      if (!device.startsWith('/dev/loop')) {
        throw new Error(`losetup printed an unexpected device name: ${JSON.stringify(stdout)}`);
      }
      return device;
    } catch (error) {
      lastError = error;
      await sleep(50 + Math.random() * 100);
    }
  }
  throw lastError;
}

export async function detachLoop(device: string, image: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Once our image is gone from the device (autoclear after a lazy unmount), the number may
    // already belong to another test's fixture: never detach what is not ours.
    if (!(await isAttachedTo(device, image))) return;
    const result = await execa('losetup', ['-d', device], { reject: false });
    if (result.exitCode === 0) return;
    await sleep(100);
  }
  throw new Error(`could not detach ${device} (backing ${image}); check 'losetup -a'`);
}

async function isAttachedTo(device: string, image: string): Promise<boolean> {
  const result = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE', device], {
    reject: false,
  });
  return result.exitCode === 0 && result.stdout.trim() === image;
}
