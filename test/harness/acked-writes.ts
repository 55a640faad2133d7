// A stream of file creates and writes from one client, for crash tests: a few writer loops
// each create files of mixed sizes one after another and record a file as acknowledged only
// after its write and close returned. Failures (the master away) are counted, not thrown, and
// the loops go on until stopped, so the same client also shows whether it comes back.
import type { Client } from '@antlerfs/client';
import { assert } from '@antlerfs/protocol';
import { setTimeout as sleep } from 'node:timers/promises';
import { KIB, MIB, SeededRandom, contentSha256 } from './data.ts';
import { readSha256, writeContent, type WriteWay } from './files.ts';

export interface AckedFile {
  path: string;
  seed: number;
  sizeBytes: number;
  sha256: string;
}

/** Pause after a failed write, so a loop does not spin while the master is away. */
const FAILURE_PAUSE_MS = 100;

export class AckedWriter {
  /** Files whose write and close returned, in the order they did. */
  readonly acked: AckedFile[] = [];
  /** Messages of the failed attempts (a crash in the middle of a write fails it). */
  readonly failures: string[] = [];
  private readonly client: Client;
  private readonly dir: string;
  private readonly attemptsMax: number;
  private readonly rnd: SeededRandom;
  private attempts = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(client: Client, o: { dir: string; seed: number; attemptsMax: number }) {
    assert(o.attemptsMax > 0, 'attempts are bounded');
    this.client = client;
    this.dir = o.dir;
    this.attemptsMax = o.attemptsMax;
    this.rnd = new SeededRandom(o.seed);
  }

  /** Starts `writers` loops writing at once. */
  start(writers: number): void {
    assert(this.loops.length === 0, 'started once');
    for (let w = 0; w < writers; w++) this.loops.push(this.loop(w));
  }

  /** Asks the loops to end after their current file, and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  get attempted(): number {
    return this.attempts;
  }

  private async loop(writer: number): Promise<void> {
    while (!this.stopping && this.attempts < this.attemptsMax) {
      const n = this.attempts++;
      const seed = 1_000 + n;
      const sizeBytes = this.pickSize();
      const way: WriteWay = n % 2 === 0 ? 'writeFile' : 'handle';
      const path = `${this.dir}/w${writer}-${n}-${sizeBytes}`;
      try {
        await writeContent(this.client, path, { seed, sizeBytes, way });
        this.acked.push({ path, seed, sizeBytes, sha256: contentSha256(seed, sizeBytes) });
      } catch (err) {
        this.failures.push(`${path}: ${(err as Error).message}`);
        await sleep(FAILURE_PAUSE_MS);
      }
    }
  }

  /** Mostly small files, some of a few MiB: many creates, and writes that take a while. */
  private pickSize(): number {
    const r = this.rnd.below(10);
    if (r < 6) return this.rnd.below(128 * KIB);
    if (r < 9) return 128 * KIB + this.rnd.below(2 * MIB);
    return 2 * MIB + this.rnd.below(7 * MIB);
  }
}

/**
 * What is wrong with the acknowledged files as `client` sees them now: missing, wrong length
 * or wrong sha256. Empty when every one is there, whole.
 */
export async function ackedProblems(
  client: Client, acked: readonly AckedFile[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const f of acked) {
    try {
      const back = await readSha256(client, f.path);
      if (back.sizeBytes !== f.sizeBytes) {
        problems.push(`${f.path}: ${back.sizeBytes} bytes, want ${f.sizeBytes}`);
      } else if (back.sha256 !== f.sha256) {
        problems.push(`${f.path}: sha256 ${back.sha256}, want ${f.sha256}`);
      }
    } catch (err) {
      problems.push(`${f.path}: ${(err as Error).message}`);
    }
  }
  return problems;
}
