// The cluster fabric's hosts: each agent, gateway and controller runs in its own network namespace, joined to the
// root namespace by a veth pair whose root end is a port of a private bridge. The bridge holds the fabric's one
// address in the root namespace (10.x.y.1), where the three nats-servers and FerretDB listen, so every component
// reaches them over a real link that the runner can cut; the runner's clients reach the gateways at their hosts'
// addresses over the same bridge. Names carry a random tag (several runs may share the machine); every namespace
// and the bridge are removed on stop, and on the runner's exit or Ctrl-C if it never got there.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Everything created and not yet removed, for the exit handler. */
const live = new Set<HostNetwork>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const n of live) n.removeNow();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const n of live) n.removeNow();
      process.exit(130);
    });
  }
}

async function ip(...args: string[]): Promise<void> {
  await run("ip", args);
}

/** A subnet 10.a.b.0/24 no interface of this machine is on. */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run("ip", ["-o", "-4", "addr"]);
  for (let tries = 0; tries < 50; tries++) {
    const prefix = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
    if (!stdout.includes(` ${prefix}.`)) return prefix;
  }
  throw new Error("no free 10.x.y.0/24 subnet for the chaos hosts");
}

export interface Host {
  /** the network namespace the host's process runs in */
  ns: string;
  /** its end of the veth pair, inside the namespace */
  link: string;
  address: string;
  /** the iptables rules that cut it off, while it is cut off */
  cut?: string[][];
}

/** A private bridge in the root namespace and one namespace per host. */
export class HostNetwork {
  readonly hosts = new Map<string, Host>();
  private removed = false;

  private constructor(readonly tag: string, readonly prefix: string) {}

  /** The address of the root namespace on the bridge: the NATS servers listen here. */
  get rootAddress(): string {
    return `${this.prefix}.1`;
  }

  get bridge(): string {
    return `wfb${this.tag}`;
  }

  static async create(names: readonly string[]): Promise<HostNetwork> {
    const n = new HostNetwork(randomBytes(3).toString("hex"), await freeSubnet());
    live.add(n);
    hookExit();
    try {
      await ip("link", "add", n.bridge, "type", "bridge");
      await ip("addr", "add", `${n.rootAddress}/24`, "dev", n.bridge);
      await ip("link", "set", n.bridge, "up");
      let k = 10;
      for (const name of names) await n.addHost(name, `${n.prefix}.${k++}`);
    } catch (err) {
      await n.remove();
      throw err;
    }
    return n;
  }

  private async addHost(name: string, address: string): Promise<void> {
    // Interface names are at most 15 characters: wf + 6 hex + host name (at most 6) + end.
    if (!/^[a-z0-9]{1,6}$/.test(name)) throw new Error(`host name ${name}: 1 to 6 lower-case letters or digits`);
    const ns = `weft-chaos-${this.tag}-${name}`;
    const root = `wf${this.tag}${name}r`;
    const link = `wf${this.tag}${name}n`;
    await ip("netns", "add", ns);
    this.hosts.set(name, { ns, link, address });
    await ip("link", "add", root, "type", "veth", "peer", "name", link);
    await ip("link", "set", link, "netns", ns);
    await ip("link", "set", root, "master", this.bridge);
    await ip("link", "set", root, "up");
    await ip("netns", "exec", ns, "ip", "addr", "add", `${address}/24`, "dev", link);
    await ip("netns", "exec", ns, "ip", "link", "set", link, "up");
    await ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** The command line that runs `command` on a host (ip netns exec execs it: the pid is the command's own). */
  wrap(name: string, command: string, args: string[]): { command: string; args: string[] } {
    return { command: "ip", args: ["netns", "exec", this.host(name).ns, command, ...args] };
  }

  /**
   * Cuts a host off: every packet in or out of its link is dropped inside its namespace (a black hole, as a dead
   * route looks: no RST, no FIN). Its processes keep running; their connections stay open and stall.
   */
  async partition(name: string): Promise<void> {
    const h = this.host(name);
    await this.cut(h, [
      ["INPUT", "-i", h.link, "-j", "DROP"],
      ["OUTPUT", "-o", h.link, "-j", "DROP"],
    ]);
  }

  async heal(name: string): Promise<void> {
    const h = this.host(name);
    for (const rule of h.cut ?? []) await ip("netns", "exec", h.ns, "iptables", "-D", ...rule);
    h.cut = undefined;
  }

  private async cut(h: Host, rules: string[][]): Promise<void> {
    if (h.cut) throw new Error(`${h.ns} is already cut off`);
    h.cut = [];
    for (const rule of rules) {
      await ip("netns", "exec", h.ns, "iptables", "-I", ...rule);
      h.cut.push(rule);
    }
  }

  /** Removes the namespaces (their veth pairs go with them) and the bridge. */
  async remove(): Promise<void> {
    if (this.removed) return;
    for (const h of this.hosts.values()) await ip("netns", "del", h.ns).catch(() => undefined);
    await ip("link", "del", this.bridge).catch(() => undefined);
    this.removed = true;
    live.delete(this);
  }

  /** The same, synchronously, for an exiting process. */
  removeNow(): void {
    if (this.removed) return;
    for (const h of this.hosts.values()) {
      try {
        execFileSync("ip", ["netns", "del", h.ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    try {
      execFileSync("ip", ["link", "del", this.bridge], { stdio: "ignore" });
    } catch {
      // already gone
    }
    this.removed = true;
    live.delete(this);
  }
}
