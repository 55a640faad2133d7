// Dropping the kernel's page cache before a read, so reads come from the disk rather than from
// memory. Needs root; without it the reads are marked 'cached' in the report.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

const SYNC_TIMEOUT_MS = 120_000;
export const CACHED_NOTE = 'cached (page cache not dropped: needs root)';

function syncAll(): Promise<void> {
  return new Promise((resolve) => {
    // Dirty pages are not dropped: flush them first. A failure only leaves more cached.
    execFile('sync', [], { timeout: SYNC_TIMEOUT_MS }, () => resolve());
  });
}

/** Flushes and drops clean caches; false when not allowed. */
export async function dropPageCaches(): Promise<boolean> {
  await syncAll();
  try {
    await fs.writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
