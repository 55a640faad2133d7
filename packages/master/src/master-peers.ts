// The other masters of the cluster (MASTER_PEERS) and the check made before this one becomes
// active: each peer is asked, as a client would (CLTOMA_SESSION), whether it serves. A peer
// that answers OK for the same cluster is the active master, and then this one must not
// accept writes: two masters writing at once would split the file system's history.
import crypto from 'node:crypto';
import {
  CLTOMA_SESSION, ConfigError, FsError, PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, Status,
  connectLink, statusName, type Logger,
} from '@antlerfs/protocol';

/** How long one peer gets to connect and answer. */
export const PEER_PROBE_TIMEOUT_MS = 3000;
/** The client name a probe registers with (peers see it in their logs). */
export const PEER_PROBE_CLIENT_NAME = 'antler-master-probe';

export interface PeerAddress {
  host: string;
  port: number;
}

export type PeerAnswer =
  | { peer: string; outcome: 'active'; clusterId: string; metaVersion: number }
  | { peer: string; outcome: 'not-active' | 'unreachable' | 'refused'; reason: string };

/** Parses MASTER_PEERS: "host:port, host2:port2" ([v6]:port too); "" is no peer. */
export function parsePeers(text: string): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(item);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) {
      throw new ConfigError(`MASTER_PEERS: "${item}" is not host:port`);
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  return out;
}

/** Asks one peer whether it is an active master; never throws. */
export async function probePeer(
  peer: PeerAddress, log: Logger, timeoutMs = PEER_PROBE_TIMEOUT_MS,
): Promise<PeerAnswer> {
  const name = `${peer.host}:${peer.port}`;
  let link;
  try {
    link = await connectLink(peer.host, peer.port, {
      kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
      connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs,
    });
  } catch (err) {
    return { peer: name, outcome: 'unreachable', reason: (err as Error).message };
  }
  try {
    const clientId = crypto.randomBytes(8).readBigUInt64BE(0);
    const r = await link.request(CLTOMA_SESSION, {
      clientId, clientName: PEER_PROBE_CLIENT_NAME, protocolVersion: PROTOCOL_VERSION,
    });
    if (r.status === Status.OK && r.body !== undefined) {
      return {
        peer: name, outcome: 'active', clusterId: r.body.clusterId, metaVersion: r.body.metaVersion,
      };
    }
    const status = statusName(r.status) ?? String(r.status);
    const outcome = r.status === Status.NOT_ACTIVE_MASTER ? 'not-active' : 'refused';
    return { peer: name, outcome, reason: status };
  } catch (err) {
    const reason = err instanceof FsError ? err.message : String(err);
    return { peer: name, outcome: 'unreachable', reason };
  } finally {
    link.close('probe done');
  }
}

/**
 * Asks every peer at once. Returns why this master must not become active (an active peer of
 * the same cluster), or null when it may.
 */
export async function activeMasterCheck(opts: {
  peers: PeerAddress[]; clusterId: string; metaVersion: number; log: Logger; timeoutMs?: number;
}): Promise<string | null> {
  const { log } = opts;
  const answers = await Promise.all(opts.peers.map((p) => probePeer(p, log, opts.timeoutMs)));
  for (const a of answers) {
    if (a.outcome !== 'active') {
      log.info('peer master is not active', { peer: a.peer, outcome: a.outcome, reason: a.reason });
      continue;
    }
    if (a.clusterId !== opts.clusterId) {
      log.warn('peer master serves another cluster (check MASTER_PEERS)', {
        peer: a.peer, peerClusterId: a.clusterId, clusterId: opts.clusterId,
      });
      continue;
    }
    const newer = a.metaVersion >= opts.metaVersion
      ? 'it holds every change this one holds'
      : 'this master holds changes it lacks (an older history is being written there): ' +
        'stop one of them by hand';
    return `peer ${a.peer} is the active master of cluster ${a.clusterId} at version ` +
      `${a.metaVersion} (this master is at ${opts.metaVersion}); ${newer}`;
  }
  return null;
}
