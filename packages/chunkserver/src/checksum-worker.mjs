// Worker-thread entry for piscina. Worker threads do not inherit a TypeScript loader registered
// with tsx's register() in the main thread, so this plain module registers it here and loads
// the typed checksum-worker.ts (registering twice, as under `node --import tsx`, is harmless).
import { register } from 'tsx/esm/api';

register();
const worker = await import('./checksum-worker.ts');

export default worker.default;
