// Hosts for cluster tests as Linux network namespaces: one namespace per host, each joined by a
// veth pair to one bridge that lives in a namespace of its own, addresses from a private /24
// picked by pid. The test process gets a veth into the bridge too, so it can talk to every
// host; nothing is routed anywhere else. `await using net = await startHostNet([...])`
// deletes every namespace and veth it made, even when the test throws.
// Without root or `ip`, the hosts are all 127.0.0.1 (daemons then pick distinct ports).
import { spawnSync } from 'node:child_process';
import { assert } from '@antlerfs/protocol';
import { HOST, type NetHost } from './cluster.ts';

/** One `ip` command gets this long. */
const IP_TIMEOUT_MS = 10_000;
/** Host part of the test process's own address on the bridge. */
const ROOT_HOST_PART = 254;
/** Third octet range of 10.231.X.0/24; runs in parallel differ by pid. */
const SUBNET_COUNT = 250;

export interface HostNet extends AsyncDisposable {
  /** False on loopback (no namespaces): every address is 127.0.0.1 and links cannot be cut. */
  isolated: boolean;
  hosts: Record<string, NetHost>;
  /** Takes host `name`'s link to the bridge down (a dropped cable, processes keep running). */
  cut(name: string): void;
  /** Brings host `name`'s link up again. */
  heal(name: string): void;
  close(): void;
}

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (r.status !== 0) {
    throw new Error(`ip ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}`);
  }
  return r.stdout;
}

/** Root and a working `ip netns`: probed by making and deleting one namespace. */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = `antler-${process.pid}-probe`;
  try {
    ip(['netns', 'add', probe]);
  } catch {
    return false;
  }
  try {
    ip(['netns', 'del', probe]);
  } catch {
    // The probe namespace is gone with the next successful delete; nothing else depends on it.
  }
  return true;
}

/** Hosts named `names`, isolated in namespaces when the machine allows it. */
export async function startHostNet(names: string[]): Promise<HostNet> {
  assert(names.length > 0 && names.length < ROOT_HOST_PART - 1, 'host count');
  if (!netnsAvailable()) {
    console.log('network namespaces unavailable: running on loopback');
    const hosts: Record<string, NetHost> = {};
    for (const n of names) hosts[n] = { ns: '', addr: HOST };
    const noCut = (): void => { throw new Error('links cannot be cut on loopback'); };
    return {
      isolated: false, hosts, cut: noCut, heal: noCut, close: () => {},
      [Symbol.asyncDispose]: async () => {},
    };
  }
  const net = new NamespaceNet(names);
  try {
    net.build();
  } catch (err) {
    net.close();
    throw err;
  }
  return net;
}

class NamespaceNet implements HostNet {
  readonly isolated = true;
  readonly hosts: Record<string, NetHost> = {};
  private readonly prefix = `antler-${process.pid}`;
  private readonly bridgeNs = `${this.prefix}-br`;
  private readonly subnet = `10.231.${process.pid % SUBNET_COUNT}`;
  /** Namespaces made so far (deleting one deletes the veth ends inside it). */
  private readonly made: string[] = [];
  /** Bridge-side veth name of each host. */
  private readonly ports = new Map<string, string>();
  private rootVeth = '';
  private closed = false;

  constructor(private readonly names: string[]) {}

  build(): void {
    this.addNs(this.bridgeNs);
    ip(['-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
    this.names.forEach((name, i) => {
      const ns = `${this.prefix}-${name}`;
      this.addNs(ns);
      const addr = `${this.subnet}.${i + 1}`;
      // veth names are limited to 15 bytes: "a" + pid + index fits.
      const inner = `ah${process.pid}x${i}`;
      const outer = `ab${process.pid}x${i}`;
      ip(['link', 'add', inner, 'netns', ns, 'type', 'veth', 'peer', 'name', outer,
        'netns', this.bridgeNs]);
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', inner]);
      ip(['-n', ns, 'link', 'set', inner, 'up']);
      ip(['-n', this.bridgeNs, 'link', 'set', outer, 'master', 'br0', 'up']);
      this.ports.set(name, outer);
      this.hosts[name] = { ns, addr };
    });
    // The test process's own leg: the root end stays here, the peer joins the bridge.
    const rootVeth = `ar${process.pid}`;
    const peer = `ab${process.pid}r`;
    ip(['link', 'add', rootVeth, 'type', 'veth', 'peer', 'name', peer, 'netns', this.bridgeNs]);
    this.rootVeth = rootVeth;
    ip(['addr', 'add', `${this.subnet}.${ROOT_HOST_PART}/24`, 'dev', this.rootVeth]);
    ip(['link', 'set', this.rootVeth, 'up']);
    ip(['-n', this.bridgeNs, 'link', 'set', peer, 'master', 'br0', 'up']);
  }

  private addNs(ns: string): void {
    ip(['netns', 'add', ns]);
    this.made.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  private port(name: string): string {
    const p = this.ports.get(name);
    assert(p !== undefined, `host ${name} exists`);
    return p;
  }

  cut(name: string): void {
    ip(['-n', this.bridgeNs, 'link', 'set', this.port(name), 'down']);
  }

  heal(name: string): void {
    ip(['-n', this.bridgeNs, 'link', 'set', this.port(name), 'up']);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const errors: string[] = [];
    const attempt = (args: string[]): void => {
      try {
        ip(args);
      } catch (err) {
        errors.push((err as Error).message);
      }
    };
    // The root end lives here; its peer would go with the bridge namespace anyway.
    if (this.rootVeth !== '') attempt(['link', 'del', this.rootVeth]);
    for (const ns of this.made.reverse()) attempt(['netns', 'del', ns]);
    if (errors.length > 0) throw new Error(`network teardown: ${errors.join('; ')}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
