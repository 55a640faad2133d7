// Serialises the commit of one key inside this gateway: the rename of the data and the write of
// its metadata record happen as one step, so two PUTs of the same key never leave the data of
// one with the record of the other. Different keys never wait for each other. Entries live only
// while someone holds or waits for the key, so the map is bounded by the requests in flight.
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys held or waited for (for tests and metrics). */
  get size(): number {
    return this.tails.size;
  }
}
