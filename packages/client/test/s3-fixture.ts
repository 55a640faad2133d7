// What the S3 tests of this package share: a real cluster with a real antler-s3 in front of
// it, an @aws-sdk/client-s3 client signed with the gateway's test key, and a library client of
// the same cluster to look at the files behind the objects.
import { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '../src/index.ts';
import { startCluster, type Cluster } from '../../../test/harness/cluster.ts';
import {
  ACCESS_KEY, REGION, SECRET_KEY, startGateway, type Gateway, type GatewayOptions,
} from '../../../test/cluster/s3-gateway-harness.ts';

export { ACCESS_KEY, REGION, SECRET_KEY };

/** The master's metalogger port picked free too, so parallel clusters never collide on it. */
export const METALOGGER_PORT_ARGS = ['--matoml-listen-port', '0'];

export interface S3Fixture {
  cluster: Cluster;
  gateway: Gateway;
  s3: S3Client;
  fs: Client;
  /** An SDK client with other keys (for signature failures). */
  s3With(accessKeyId: string, secretAccessKey: string): S3Client;
  stop(): Promise<void>;
}

export function sdkClient(
  endpoint: string, accessKeyId: string, secretAccessKey: string,
): S3Client {
  // Node 20 is what this project runs; the SDK's notice about later versions is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint, region: REGION, forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId, secretAccessKey },
  });
}

export async function startS3(
  opts: GatewayOptions & { chunkservers?: number } = {},
): Promise<S3Fixture> {
  const cluster = await startCluster({
    chunkservers: opts.chunkservers ?? 1, masterArgs: METALOGGER_PORT_ARGS,
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway(cluster, opts);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const s3 = sdkClient(gateway.endpoint, ACCESS_KEY, SECRET_KEY);
  const fs = await cluster.client('s3-test');
  const extra: S3Client[] = [];
  return {
    cluster, gateway, s3, fs,
    s3With: (a, s) => {
      const c = sdkClient(gateway.endpoint, a, s);
      extra.push(c);
      return c;
    },
    stop: async () => {
      s3.destroy();
      for (const c of extra) c.destroy();
      await gateway.stop();
      await cluster.stop();
    },
  };
}

/** The error code and HTTP status an SDK call failed with. */
export async function failure(p: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.Code ?? e.name ?? 'unknown', status: e.$metadata?.httpStatusCode ?? 0 };
  }
  throw new Error('the call succeeded; a failure was expected');
}

export async function bodyBytes(body: unknown): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
