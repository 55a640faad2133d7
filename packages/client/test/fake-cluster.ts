// A fake master with fake chunkservers on loopback, for the client's unit tests.
import { FakeChunkserver } from './fake-chunkserver.ts';
import { FakeMaster, type FakeMasterOptions } from './fake-master.ts';

export { FakeChunkserver, FakeMaster };

export interface FakeCluster {
  master: FakeMaster;
  servers: FakeChunkserver[];
  stop(): Promise<void>;
}

export async function startFakeCluster(
  chunkservers = 3, masterOptions: FakeMasterOptions = {},
): Promise<FakeCluster> {
  const servers: FakeChunkserver[] = [];
  for (let i = 1; i <= chunkservers; i++) {
    const s = new FakeChunkserver(i);
    await s.start();
    servers.push(s);
  }
  const master = new FakeMaster(servers, masterOptions);
  await master.start();
  return {
    master, servers,
    async stop() {
      await master.stop();
      for (const s of servers) if (!s.down) await s.stop();
    },
  };
}
