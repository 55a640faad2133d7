// antler chunkservers: every chunkserver the master knows, with its space and state.
import { ChunkserverState, type ChunkserverInfo } from '../../index.ts';
import type { Command } from '../command.ts';
import { formatBytes } from '../output.ts';

const STATE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ChunkserverState).map(([name, code]) => [code, name.toLowerCase()]),
);

function stateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

export const chunkserverList: Command = {
  name: 'chunkservers',
  usage: '',
  summary: 'list the chunkservers with their space and state',
  flags: [],
  positionalsMin: 0,
  positionalsMax: 0,
  async run(ctx) {
    const client = await ctx.client();
    const servers = await client.chunkservers();
    if (ctx.json) {
      ctx.printJson(servers.map((s) => ({ ...s, stateName: stateName(s.state) })));
      return;
    }
    ctx.print('id     address                state    chunks    total       free        used%');
    for (const s of servers) ctx.print(row(s));
  },
};

function row(s: ChunkserverInfo): string {
  const usedBytes = s.totalBytes - s.freeBytes;
  const used = s.totalBytes > 0 ? `${Math.round((usedBytes / s.totalBytes) * 100)}%` : '-';
  return [
    String(s.csId).padEnd(7), `${s.host}:${s.port}`.padEnd(23), stateName(s.state).padEnd(9),
    String(s.chunkCount).padEnd(10), formatBytes(s.totalBytes).padEnd(12),
    formatBytes(s.freeBytes).padEnd(12), used,
  ].join('');
}
