// The byte channel between the agent and one container's trusted runner (deploy/images/PROTOCOL.md "Channel").
//
// The default is a Unix socket the agent listens on, in a directory of its own per container (mode 0700, owned
// by uid 0) bind-mounted read-only into the container at /run/weft: the runner (uid 0 in the container) connects
// once before it starts the worker, the agent accepts that one connection and at once unlinks the socket and
// removes the directory. The worker (uid 65534) can neither enter the directory nor find anything in it later.
// Frames then flow socket to socket: no dockerd, no containerd-shim, no attach multiplexing in a call's path.
// gVisor reaches host sockets only with runsc's --host-uds=open (deploy/services.sh registers it), which allows a
// sandbox to connect, not to listen: that is why the agent listens and the runner connects, on runc and gVisor.
//
// The attach channel (the container's stdin and stdout through dockerd) remains for an agent that is not root,
// which could not make a directory only the container's uid 0 may enter, and for the runner-boundary benchmark.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, openSync } from "node:fs";
import { chmod, mkdir, rm } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { AttachDemuxer } from "./runner-protocol.js";

/** Where a container sees its socket directory, and the socket the runner connects to (its WEFT_CHANNEL). */
export const CHANNEL_MOUNT = "/run/weft";
export const CHANNEL_PATH = `${CHANNEL_MOUNT}/ch`;

/** The host directory under which each agent keeps its containers' socket directories. */
export const DEFAULT_CHANNEL_ROOT = "/run/weft/channels";

/** A socket path is at most 107 bytes (sun_path); the per-container part below is 24. */
const MAX_ROOT_BYTES = 80;

export type ChannelKind = "socket" | "attach";

/** The channel kind an agent can use: a socket needs root to own a directory the container's uid 0 may enter. */
export const defaultChannelKind = (): ChannelKind => (process.getuid?.() === 0 ? "socket" : "attach");

/** One agent's directory of socket directories: short (sun_path is small) and its own (cleared at start). */
export function agentChannelDir(root: string, agentId: string): string {
  if (Buffer.byteLength(root) > MAX_ROOT_BYTES) throw new Error(`the channel directory ${root} is longer than ${MAX_ROOT_BYTES} bytes`);
  return join(root, createHash("sha256").update(agentId).digest("hex").slice(0, 12));
}

/** Removes every socket directory a previous run of this agent left (a crash between create and connect). */
export async function clearChannelDirs(agentDir: string): Promise<void> {
  await rm(agentDir, { recursive: true, force: true });
}

/** What the agent reads and writes; the same for both kinds, so container.ts does not know which it has. */
export interface RunnerChannel {
  readonly kind: ChannelKind;
  /** Frames to the runner. */
  write(chunk: Buffer): void;
  /** Frame bytes from the runner, and its own diagnostics (stderr), each as they arrive. */
  onData(frames: (chunk: Buffer) => void, diagnostics: (chunk: Buffer) => void): void;
  /** The runner is gone: its end of the channel closed (it is the only process holding it). */
  onClose(listener: () => void): void;
  onError(listener: (err: Error) => void): void;
  close(): void;
}

/** The socket channel; `attach` (stderr only) carries the runner's diagnostics, never a frame. */
export class SocketChannel implements RunnerChannel {
  readonly kind = "socket";
  constructor(
    private readonly socket: net.Socket,
    private readonly attach: Duplex,
  ) {}

  write(chunk: Buffer): void {
    this.socket.write(chunk);
  }

  onData(frames: (chunk: Buffer) => void, diagnostics: (chunk: Buffer) => void): void {
    this.socket.on("data", frames);
    this.socket.resume(); // accepted paused, so no byte arrived before this listener
    const demux = new AttachDemuxer(diagnostics, diagnostics);
    this.attach.on("data", (chunk: Buffer) => demux.feed(chunk));
  }

  onClose(listener: () => void): void {
    this.socket.on("close", listener);
    this.socket.on("end", listener);
  }

  onError(listener: (err: Error) => void): void {
    this.socket.on("error", listener);
    this.attach.on("error", listener);
  }

  close(): void {
    this.socket.removeAllListeners("data");
    this.socket.destroy();
    this.attach.destroy();
  }
}

/** The attach channel: stdin in, stdout (frames) and stderr (diagnostics) multiplexed out by dockerd. */
export class AttachChannel implements RunnerChannel {
  readonly kind = "attach";
  constructor(private readonly stream: Duplex) {}

  write(chunk: Buffer): void {
    this.stream.write(chunk);
  }

  onData(frames: (chunk: Buffer) => void, diagnostics: (chunk: Buffer) => void): void {
    const demux = new AttachDemuxer(frames, diagnostics);
    this.stream.on("data", (chunk: Buffer) => demux.feed(chunk));
  }

  onClose(listener: () => void): void {
    this.stream.on("close", listener);
    this.stream.on("end", listener);
  }

  onError(listener: (err: Error) => void): void {
    this.stream.on("error", listener);
  }

  close(): void {
    this.stream.removeAllListeners("data");
    this.stream.end();
    this.stream.destroy();
  }
}

/**
 * One container's socket directory and listener, from before the container is created until its runner has
 * connected. Exactly one connection is taken; then the socket and its directory go.
 */
export class ChannelListener {
  private readonly server = net.createServer({ pauseOnConnect: true });
  private accepted: net.Socket | undefined;
  private waiters: Array<{ resolve(s: net.Socket): void; reject(e: Error): void }> = [];
  private failure: Error | undefined;
  private dirFd: number | undefined;

  private constructor(readonly dir: string) {
    this.server.maxConnections = 1;
    this.server.on("connection", (socket) => this.onConnection(socket));
    this.server.on("error", (err) => this.fail(err));
  }

  /** Makes the directory (0700, the agent's uid: root) and listens in it on a socket only its owner may use (0600). */
  static async open(agentDir: string): Promise<ChannelListener> {
    const dir = join(agentDir, randomBytes(4).toString("hex"));
    await mkdir(agentDir, { recursive: true, mode: 0o700 });
    await mkdir(dir, { mode: 0o700 });
    await chmod(dir, 0o700); // whatever the umask
    const listener = new ChannelListener(dir);
    try {
      // Bound through the directory's descriptor: the name a socket was bound with shows in /proc/net/unix of
      // the connecting container's network namespace (where the accepted end lives), so it must not tell the
      // host's layout. The container sees "/proc/self/fd/N/ch".
      listener.dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      await new Promise<void>((resolve, reject) => {
        listener.server.once("error", reject);
        listener.server.listen(`/proc/self/fd/${listener.dirFd}/ch`, () => {
          listener.server.off("error", reject);
          resolve();
        });
      });
      await chmod(join(dir, "ch"), 0o600);
    } catch (err) {
      await listener.dispose();
      throw err;
    }
    return listener;
  }

  /** The runner's connection, once it came; rejects when `fail` is called first. */
  connection(): Promise<net.Socket> {
    if (this.accepted) return Promise.resolve(this.accepted);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Gives up waiting (the container died, or did not connect in time). */
  fail(err: Error): void {
    if (this.accepted || this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private onConnection(socket: net.Socket): void {
    if (this.accepted || this.failure) {
      socket.destroy();
      return;
    }
    this.accepted = socket;
    // No more connections, and nothing left on disk to connect to.
    this.server.close();
    for (const w of this.waiters.splice(0)) w.resolve(socket);
  }

  /** Closes the listener (unlinking the socket) and removes the directory; the accepted socket lives on. */
  async dispose(): Promise<void> {
    this.fail(new Error("the channel was closed before the runner connected"));
    // Closing unlinks the socket by the name it was bound with: the directory's descriptor must still be open.
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.dirFd !== undefined) closeSync(this.dirFd);
    this.dirFd = undefined;
    await rm(this.dir, { recursive: true, force: true });
  }
}
