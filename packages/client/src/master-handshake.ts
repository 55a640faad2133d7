// Opening a session on one master: a Link, then CLTOMA_SESSION with the client's id. A master
// that does not know CLTOMA_SESSION (ENOSYS) gets CLTOMA_REGISTER instead: such a session
// cannot have its changes retried. A master that is not the active one answers
// NOT_ACTIVE_MASTER, which the caller takes as "try the next address".
import {
  CLTOMA_REGISTER, CLTOMA_SESSION, connectLink, FsError, PAYLOAD_MAX_CLIENT_MASTER_BYTES,
  PROTOCOL_VERSION, Status, type Link, type Logger,
} from '@antlerfs/protocol';
import { formatMasterAddress, type MasterAddress } from './master-address.ts';

/** 'session': CLTOMA_SESSION, changes may be retried; 'register': the older CLTOMA_REGISTER. */
export type SessionMode = 'session' | 'register';

export interface MasterHandshake {
  link: Link;
  mode: SessionMode;
  sessionId: number;
  metaVersion: number;
  /** The cluster the master serves; '' for a CLTOMA_REGISTER session. */
  clusterId: string;
}

export interface HandshakeOptions {
  clientId: bigint;
  clientName: string;
  log: Logger;
  /** Id of the first request on the new link (the session request itself). */
  firstRequestId: number;
  /** Bounds the connect and each handshake request. */
  timeoutMs: number;
  /** Later requests on the link. */
  requestTimeoutMs: number;
  /** Requests the link lets us have outstanding. */
  inflightMax: number;
}

/** Connects and opens a session; the link is closed again on any failure. */
export async function openMasterSession(
  master: MasterAddress, o: HandshakeOptions,
): Promise<MasterHandshake> {
  const address = formatMasterAddress(master);
  const link = await connectLink(master.host, master.port, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log: o.log,
    connectTimeoutMs: o.timeoutMs, requestTimeoutMs: o.requestTimeoutMs,
    firstRequestId: o.firstRequestId, inflightMax: o.inflightMax, peer: address,
  });
  try {
    const timeout = { timeoutMs: o.timeoutMs };
    const r = await link.request(CLTOMA_SESSION, {
      clientId: o.clientId, clientName: o.clientName, protocolVersion: PROTOCOL_VERSION,
    }, undefined, timeout);
    if (r.status === Status.OK && r.body !== undefined) return { link, mode: 'session', ...r.body };
    if (r.status !== Status.ENOSYS) {
      throw new FsError(r.status, `open session on master ${address}`);
    }
    const { body } = await link.call(CLTOMA_REGISTER, {
      clientName: o.clientName, protocolVersion: PROTOCOL_VERSION,
    }, undefined, { ...timeout, context: `register with master ${address}` });
    return { link, mode: 'register', ...body, clusterId: '' };
  } catch (err) {
    link.close('session not opened');
    throw err;
  }
}
