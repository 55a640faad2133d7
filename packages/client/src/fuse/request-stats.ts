// Counters of what the mount does: kernel requests by opcode and master requests by message
// name, so an operator (or a benchmark) can see how many of each one program operation costs.
// Logged on SIGUSR2 and at unmount. Counting is an array increment per kernel request and a
// map increment per master request; nothing here changes what the mount does.
import { assert } from '@antlerfs/protocol';
import type { Client } from '../index.ts';
import { opcodeName } from './kernel-abi.ts';

/** Opcodes are small numbers; one slot each (larger ones share the last slot). */
const OPCODE_SLOTS = 64;

/** What the counting wrapper needs of the library's master session. */
interface CountableSession {
  callWithEpoch: (def: { name: string }, ...rest: unknown[]) => Promise<unknown>;
}

export class RequestStats {
  private readonly kernel = new Float64Array(OPCODE_SLOTS);
  private readonly master = new Map<string, number>();

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
    return { kernel, master: Object.fromEntries(this.master) };
  }

  /**
   * Counts every request the client's master session sends (metadata calls of the mount and
   * those of its file handles: chunk locations, write leases, write ends).
   */
  countMasterCallsOf(client: Client): void {
    const session: unknown = Reflect.get(client, 'session');
    const original: unknown = typeof session === 'object' && session !== null
      ? Reflect.get(session, 'callWithEpoch')
      : undefined;
    if (typeof original !== 'function') return; // counting is optional: the mount works without
    const s = session as CountableSession;
    const call = (original as CountableSession['callWithEpoch']).bind(s);
    assert(typeof call === 'function', 'callWithEpoch binds');
    s.callWithEpoch = (def, ...rest) => {
      this.countMaster(def.name);
      return call(def, ...rest);
    };
  }
}
