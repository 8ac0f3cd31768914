// The only file that talks to Docker: creates hardened runtime containers with their runner channel
// (runner-channel.ts) and removes them. It decides nothing; the pool (pool.ts, pool-policy.ts) decides which
// container to create, reuse or remove.
import type Dockerode from "dockerode";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { randomBytes } from "node:crypto";
import type { ISOLATIONS } from "../shared/schemas/function.js";
import type { ImageRuntime } from "../shared/runtimes.js";
import {
  AttachChannel,
  CHANNEL_MOUNT,
  CHANNEL_PATH,
  ChannelListener,
  DEFAULT_CHANNEL_ROOT,
  SocketChannel,
  agentChannelDir,
  clearChannelDirs,
  defaultChannelKind,
  type ChannelKind,
  type RunnerChannel,
} from "./runner-channel.js";

/** What a container runs: an image's runtime (a typescript function runs on nodejs20's). */
export type Runtime = ImageRuntime;
export type Isolation = (typeof ISOLATIONS)[number];

const MiB = 1024 * 1024;

export const LABELS = {
  managed: "weft.managed",
  agent: "weft.agent",
  runtime: "weft.runtime",
  isolation: "weft.isolation",
  fn: "weft.function",
  version: "weft.version",
} as const;

/**
 * The container starts the trusted runner as uid 0 with only these capabilities: it needs them to start the
 * worker as uid 65534 (SETUID, SETGID) and to end whatever a call left behind (KILL). User code never runs
 * as uid 0: the worker drops to 65534 before it loads any, with no capabilities and no-new-privileges.
 */
const RUNNER_USER = "0:0";
const RUNNER_CAPABILITIES = ["SETUID", "SETGID", "KILL"];

export interface ContainerSpec {
  runtime: Runtime;
  isolation: Isolation;
  memoryMb: number;
  cpus?: number;
  /** Set when the container is created for one function version (not for a stem cell). */
  binding?: { functionName: string; version: number };
  /** Read-only bind mounts: a bundle's files and dependency layer (shared/bundle.ts versionMounts). */
  mounts?: ReadonlyArray<{ source: string; target: string }>;
}

export interface DriverOptions {
  agentId: string;
  images: Record<Runtime, string>;
  pidsLimit: number;
  nofileLimit: number;
  tmpfsMb: number;
  /** The `seccomp=<profile JSON>` security option (agents/seccomp.ts), applied on runc and gVisor alike. */
  seccomp: string;
  /** CPU weight of a function container relative to the host's processes (1024); WEFT_CONTAINER_CPU_SHARES. */
  cpuShares?: number;
  /** Every Docker call is abandoned after this (WEFT_DOCKER_TIMEOUT_MS): a stalled engine must not hold a job for ever. */
  callTimeoutMs?: number;
  /** How the agent talks to the runner: a Unix socket (default when the agent is root) or docker attach. */
  channel?: ChannelKind;
  /** Host directory of the per-container socket directories (default /run/weft/channels). */
  channelRoot?: string;
}

export class DockerTimeout extends Error {
  override name = "DockerTimeout";
}

/** A created and started container whose runner holds the other end of `channel`. */
export interface AttachedContainer {
  id: string;
  name: string;
  channel: RunnerChannel;
}

export interface ExitInfo {
  exitCode: number | undefined;
  oomKilled: boolean;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

export class DockerDriver {
  readonly channel: ChannelKind;
  /** This agent's socket directories (one per container being started), when the channel is a socket. */
  private readonly channelDir: string;

  constructor(
    private readonly docker: Dockerode,
    private readonly opts: DriverOptions,
  ) {
    this.channel = opts.channel ?? defaultChannelKind();
    this.channelDir = agentChannelDir(opts.channelRoot ?? DEFAULT_CHANNEL_ROOT, opts.agentId);
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }

  /**
   * Every hardening setting in one place (README "Container hardening" explains each). `channelDir`, the host
   * directory holding the socket the runner connects to, is mounted read-only; without it the runner speaks on
   * its stdin and stdout (attach).
   */
  createOptions(spec: ContainerSpec, name: string, channelDir?: string): Dockerode.ContainerCreateOptions {
    const memory = spec.memoryMb * MiB;
    const labels: Record<string, string> = {
      [LABELS.managed]: "true",
      [LABELS.agent]: this.opts.agentId,
      [LABELS.runtime]: spec.runtime,
      [LABELS.isolation]: spec.isolation,
    };
    if (spec.binding) {
      labels[LABELS.fn] = spec.binding.functionName;
      labels[LABELS.version] = String(spec.binding.version);
    }
    return {
      name,
      Image: this.opts.images[spec.runtime],
      User: RUNNER_USER,
      WorkingDir: "/tmp",
      Labels: labels,
      Hostname: "weft",
      AttachStdin: !channelDir,
      AttachStdout: !channelDir,
      AttachStderr: true,
      OpenStdin: !channelDir,
      StdinOnce: false,
      Tty: false,
      NetworkDisabled: true,
      ...(channelDir ? { Env: [`WEFT_CHANNEL=${CHANNEL_PATH}`] } : {}),
      HostConfig: {
        Runtime: spec.isolation === "gvisor" ? "runsc" : "runc",
        NetworkMode: "none",
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${this.opts.tmpfsMb}m` },
        ...(spec.mounts?.length
          ? { Mounts: spec.mounts.map((m) => ({ Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: true, BindOptions: { Propagation: "rprivate" as const } })) }
          : {}),
        ...(channelDir ? { Binds: [`${channelDir}:${CHANNEL_MOUNT}:ro`] } : {}),
        CapDrop: ["ALL"],
        CapAdd: RUNNER_CAPABILITIES,
        SecurityOpt: ["no-new-privileges", this.opts.seccomp],
        Memory: memory,
        MemorySwap: memory,
        ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
        // Under contention the fabric's own processes (agent, gateway, NATS) come first: a tenant's container
        // weighs a quarter of a default process, so a flood of busy functions cannot starve the agent.
        CpuShares: this.opts.cpuShares ?? 256,
        PidsLimit: this.opts.pidsLimit,
        Ulimits: [
          { Name: "nofile", Soft: this.opts.nofileLimit, Hard: this.opts.nofileLimit },
          { Name: "core", Soft: 0, Hard: 0 },
        ],
        Init: true,
        // The runner's diagnostics reach the agent through attach only; nothing is written to the host's disk.
        LogConfig: { Type: "none", Config: {} },
        RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
        AutoRemove: false,
      },
    };
  }

  /**
   * Runs one Docker call with a deadline (REVIEW C1). The request is aborted when the deadline passes; a call
   * that succeeded is never aborted afterwards (an attach stream lives on).
   */
  private async bounded<T>(what: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = this.opts.callTimeoutMs ?? 60_000;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      return await call(ac.signal);
    } catch (err) {
      if (ac.signal.aborted) throw new DockerTimeout(`docker ${what} did not answer within ${ms} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Creates, attaches (before start, so no output is missed) and starts a container, and returns once its runner
   * holds the channel. Socket channel: the listener exists before the container (its directory is mounted), the
   * runner connects first thing, and the socket and directory are gone before this returns.
   */
  async create(spec: ContainerSpec): Promise<AttachedContainer> {
    const name = `weft-${spec.binding?.functionName ?? `stem-${spec.runtime}`}-${randomBytes(4).toString("hex")}`;
    const listener = this.channel === "socket" ? await ChannelListener.open(this.channelDir) : undefined;
    try {
      return await this.createWith(spec, name, listener);
    } finally {
      await listener?.dispose();
    }
  }

  private async createWith(spec: ContainerSpec, name: string, listener: ChannelListener | undefined): Promise<AttachedContainer> {
    let container: Dockerode.Container;
    try {
      container = await this.bounded("create", (abortSignal) => this.docker.createContainer({ ...this.createOptions(spec, name, listener?.dir), abortSignal }));
    } catch (err) {
      // A create abandoned at its deadline may still happen in the engine: remove it by name, in the background.
      if (err instanceof DockerTimeout) void this.remove(name).catch(() => {});
      throw err;
    }
    try {
      const socket = listener !== undefined;
      const stream = (await this.bounded("attach", (abortSignal) =>
        container.attach({ stream: true, stdin: !socket, stdout: !socket, stderr: true, hijack: !socket, abortSignal }),
      )) as Duplex;
      try {
        await this.bounded("start", (abortSignal) => container.start({ abortSignal }));
        if (!listener) return { id: container.id, name, channel: new AttachChannel(stream) };
        return { id: container.id, name, channel: new SocketChannel(await this.connected(listener, stream), stream) };
      } catch (err) {
        stream.destroy();
        throw err;
      }
    } catch (err) {
      await this.remove(container.id).catch(() => {});
      throw err;
    }
  }

  /** The runner's connection; fails when the container ends first or it does not come within the call deadline. */
  private async connected(listener: ChannelListener, attach: Duplex): Promise<Socket> {
    const ms = this.opts.callTimeoutMs ?? 60_000;
    const gone = () => listener.fail(new Error("the container exited before its runner connected"));
    const timer = setTimeout(() => listener.fail(new DockerTimeout(`the runner did not connect within ${ms} ms`)), ms);
    attach.once("end", gone);
    attach.once("close", gone);
    try {
      return await listener.connection();
    } finally {
      clearTimeout(timer);
      attach.off("end", gone);
      attach.off("close", gone);
    }
  }

  /** Resizes a running container. runc only: runsc has no update command, the pool never asks it to. */
  async update(id: string, limits: { memoryMb: number; cpus?: number }): Promise<void> {
    const memory = limits.memoryMb * MiB;
    await this.bounded("update", (abortSignal) =>
      this.docker.getContainer(id).update({
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: limits.cpus ? Math.round(limits.cpus * 1e9) : 0,
        abortSignal,
      }),
    );
  }

  /** Force-removes (kills) a container; one that is already gone or going is not an error. */
  async remove(id: string): Promise<void> {
    try {
      await this.bounded("remove", (abortSignal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }));
    } catch (err) {
      const status = statusOf(err);
      if (status !== 404 && status !== 409) throw err;
    }
  }

  /** Why a container stopped, for telling an out-of-memory kill from other deaths. */
  async exitInfo(id: string): Promise<ExitInfo | undefined> {
    try {
      const info = await this.bounded("inspect", (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }));
      return { exitCode: info.State?.ExitCode, oomKilled: Boolean(info.State?.OOMKilled) };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Ids of every container labelled as this agent's, running or not. */
  async listOwn(): Promise<string[]> {
    const found = await this.bounded("list", (abortSignal) =>
      this.docker.listContainers({
        all: true,
        filters: { label: [`${LABELS.managed}=true`, `${LABELS.agent}=${this.opts.agentId}`] },
        abortSignal,
      }),
    );
    return found.map((c) => c.Id);
  }

  /** Removes what a previous run of this agent left behind (containers, socket directories); returns how many containers. */
  async removeLeftovers(): Promise<number> {
    const ids = await this.listOwn();
    await Promise.all(ids.map((id) => this.remove(id)));
    await clearChannelDirs(this.channelDir);
    return ids.length;
  }
}
