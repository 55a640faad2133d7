// Where the masters are: "host:port[,host:port...]" (or a list of such strings). A client
// tries them in turn and keeps the one that accepts its session: the active master.
import { FsError, PORT_MATOCL } from '@antlerfs/protocol';

export interface MasterAddress {
  host: string;
  port: number;
}

/** Addresses a client accepts at most (each is tried in turn on every reconnect round). */
export const MASTER_ADDRESSES_MAX = 64;

/** "host:port[,host:port...]"; the port defaults to 9421; IPv6 as "[::1]:9421". */
export function parseMasterList(text: string): MasterAddress[] {
  const out: MasterAddress[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(item);
    const port = m?.[3] === undefined ? PORT_MATOCL : Number(m[3]);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new FsError('EINVAL', `master address "${item}" (expected host:port)`);
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  if (out.length === 0) throw new FsError('EINVAL', 'no master address given');
  if (out.length > MASTER_ADDRESSES_MAX) {
    throw new FsError('EINVAL', `${out.length} master addresses (at most ${MASTER_ADDRESSES_MAX})`);
  }
  return out;
}

/** The `master` option of Client.connect: one string (maybe a list) or an array of them. */
export function parseMasterOption(master: unknown): MasterAddress[] {
  if (typeof master === 'string') return parseMasterList(master);
  if (Array.isArray(master) && master.every((m) => typeof m === 'string')) {
    return parseMasterList(master.join(','));
  }
  throw new FsError('EINVAL', 'option master: expected "host:port[,host:port...]" or an array');
}

export function formatMasterAddress(m: MasterAddress): string {
  return m.host.includes(':') ? `[${m.host}]:${m.port}` : `${m.host}:${m.port}`;
}
