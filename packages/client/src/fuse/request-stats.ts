// Counters of what the mount does: kernel requests by opcode and master requests by message
// name, so an operator (or a benchmark) can see how many of each one program operation costs.
// Logged on SIGUSR2 and at unmount. Counting is an array increment per kernel request; the
// master requests are the client library's own counts. Nothing here changes what the mount does.
import type { Client } from '../index.ts';
import { opcodeName } from './kernel-abi.ts';

/** Opcodes are small numbers; one slot each (larger ones share the last slot). */
const OPCODE_SLOTS = 64;

export class RequestStats {
  private readonly kernel = new Float64Array(OPCODE_SLOTS);
  private readonly master = new Map<string, number>();
  /** The client whose master requests are counted, and its counts when counting began. */
  private counted: { client: Client; base: Record<string, number> } | null = null;

  countKernel(opcode: number): void {
    this.kernel[opcode < OPCODE_SLOTS ? opcode : OPCODE_SLOTS - 1]!++;
  }

  countMaster(name: string): void {
    this.master.set(name, (this.master.get(name) ?? 0) + 1);
  }

  /** Counts so far: `{ kernel: { LOOKUP: n, ... }, master: { CLTOMA_LOOKUP: n, ... } }`. */
  snapshot(): { kernel: Record<string, number>; master: Record<string, number> } {
    const kernel: Record<string, number> = {};
    for (let op = 0; op < OPCODE_SLOTS; op++) {
      if (this.kernel[op]! > 0) kernel[opcodeName(op)] = this.kernel[op]!;
    }
    const master = new Map(this.master);
    if (this.counted !== null) {
      const { client, base } = this.counted;
      for (const [name, n] of Object.entries(client.masterRequestCounts())) {
        const since = n - (base[name] ?? 0);
        if (since > 0) master.set(name, (master.get(name) ?? 0) + since);
      }
    }
    return { kernel, master: Object.fromEntries(master) };
  }

  /**
   * Counts from now on every request the client's master session sends (metadata calls of the
   * mount and those of its file handles: chunk locations, write leases, write ends).
   */
  countMasterCallsOf(client: Client): void {
    this.counted = { client, base: client.masterRequestCounts() };
  }
}
