// Builds an agent from its configuration: NATS, Docker, the container pool, the function cache, the job
// consumer and the heartbeat. `main.ts` runs it; tests start it in-process.
import Dockerode from "dockerode";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { hostname, totalmem } from "node:os";
import type { Logger } from "../shared/logger.js";
import { awaitTopology, connectNats, openFunctionsBucket } from "../shared/nats.js";
import type { AgentStatus } from "../shared/schemas/agent.js";
import { JOBS_CONSUMER, JOBS_STREAM } from "../shared/subjects.js";
import { ensureRuntimeImages } from "../deploy/images.js";
import { runStopSteps } from "../shared/lifecycle.js";
import { runtimeImages, type AgentConfig } from "./config.js";
import { DockerDriver } from "./docker-driver.js";
import { FunctionCache } from "./function-cache.js";
import { Heartbeat } from "./heartbeat.js";
import { InvocationRunner } from "./invocation-runner.js";
import { JobConsumer } from "./job-consumer.js";
import { LiveJobSettings } from "./job-settings.js";
import { RecordOutbox } from "./record-outbox.js";
import { StallWatch } from "./stall-watch.js";
import { JobLeases } from "./job-lease.js";
import { Pool } from "./pool.js";
import { ExecPool } from "./exec-pool.js";
import { ExecutionRunner } from "./execution-runner.js";
import { DirectIntake } from "./direct-intake.js";
import { loadSeccompOption } from "./seccomp.js";

export type AgentState = AgentStatus["state"];

export interface Agent {
  agentId: string;
  /** Stops pulling, lets in-flight invocations finish (up to the drain timeout), removes its containers. Idempotent. */
  stop(): Promise<void>;
  status(): AgentStatus;
}

const MiB = 1024 * 1024;
/** Each stop step after the drain gets this long. */
export const STOP_STEP_MS = 5000;

function memoryBudgetMb(config: AgentConfig): number {
  return config.memoryMb > 0 ? config.memoryMb : Math.floor((totalmem() / MiB) * 0.75);
}

async function prepareDocker(config: AgentConfig, log: Logger): Promise<DockerDriver> {
  const docker = new Dockerode({ socketPath: config.dockerSocket });
  const images = runtimeImages(config);
  if (config.buildImages) {
    // Run the image built from this checkout's sources, under its source-hash tag (see ImageOutcome.pinned).
    const bases = { bookworm: config.baseImage, trixie: config.baseImageTrixie };
    for (const built of await ensureRuntimeImages(docker, { bases, images, log })) images[built.runtime] = built.pinned;
  }
  const seccomp = loadSeccompOption(config.seccompProfile);
  log.info({ seccompProfile: config.seccompProfile }, "containers run under this seccomp profile");
  const driver = new DockerDriver(docker, {
    agentId: config.agentId,
    images,
    pidsLimit: config.pidsLimit,
    nofileLimit: config.nofileLimit,
    tmpfsMb: config.tmpfsMb,
    callTimeoutMs: config.dockerTimeoutMs,
    cpuShares: config.containerCpuShares,
    seccomp,
    ...(config.runnerChannel === "auto" ? {} : { channel: config.runnerChannel }),
  });
  await driver.ping();
  const removed = await driver.removeLeftovers();
  if (removed > 0) log.info({ removed }, "removed containers a previous run of this agent left behind");
  return driver;
}

export async function startAgent(config: AgentConfig, parentLog: Logger): Promise<Agent> {
  const log = parentLog.child({ agentId: config.agentId });
  let state: AgentState = "starting";
  const startedAt = Date.now();
  const driver = await prepareDocker(config, log);
  const pool = new Pool(
    driver,
    {
      memoryBudgetMb: memoryBudgetMb(config),
      keepAliveMs: config.keepAliveMs,
      startTimeoutMs: config.containerStartTimeoutMs,
      defaultCpus: config.defaultCpus,
      buildDir: config.buildDir,
      stemTargets: config.stemRuntimes.flatMap((runtime) =>
        config.stemIsolations.map((isolation) => ({ runtime, isolation, count: config.stemCells, memoryMb: config.stemMemoryMb })),
      ),
    },
    log,
  );
  const execKinds = config.execRuntimes.flatMap((runtime) => config.execIsolations.map((isolation) => ({ runtime, isolation })));
  const execPool = new ExecPool(
    driver,
    { kinds: execKinds, size: config.execPoolSize, memoryMb: config.execMemoryMb, cpus: config.defaultCpus, startTimeoutMs: config.containerStartTimeoutMs },
    log,
  );
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats(config.natsUrl, `weft-agent-${config.agentId}`, log);
    const jobSettings = await LiveJobSettings.start(nc, await awaitTopology(nc, log), log);
    const functions = new FunctionCache(
      await openFunctionsBucket(nc, log),
      { latest: (def) => pool.setLatest(def), deleted: (name) => pool.deleteFunction(name) },
      log,
    );
    await functions.start();
    await Promise.all([pool.start(), execPool.start()]);
    const js = jetstream(nc);
    const outbox = new RecordOutbox(js, { dir: config.outboxDir, agentId: config.agentId }, log);
    outbox.start();
    const stalls = new StallWatch(1000);
    stalls.start();
    const leases = new JobLeases(nc, jobSettings, log);
    leases.start();
    const runner = new InvocationRunner(nc, functions, pool, outbox, stalls, {
      agentId: config.agentId,
      jobs: jobSettings,
      leases,
      runningRecordAfterMs: config.runningRecordAfterMs,
      recordLingerMs: config.recordLingerMs,
      retryDelayMs: config.retryDelayMs,
    }, log);
    const consumer = new JobConsumer(
      await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER),
      { slots: config.slots },
      (msg, slotFree) => runner.handle(msg, slotFree),
      log,
    );
    const direct = new DirectIntake(nc, { slots: config.directSlots, agentId: config.agentId }, () => consumer.occupy(), (msg, slotFree) => runner.handleDirect(msg, slotFree), log);
    const status = (): AgentStatus => {
      const s = pool.stats();
      return { agentId: config.agentId, host: hostname(), state, slots: config.slots, directSlots: config.directSlots, busy: consumer.inFlight, startedAt, ...s, outbox: outbox.size, at: Date.now() };
    };
    const executions = new ExecutionRunner(nc, execPool, outbox, { agentId: config.agentId, kinds: execKinds, slots: config.execSlots, cpus: config.defaultCpus }, log);
    const heartbeat = new Heartbeat(nc, status, config.heartbeatMs, log);
    consumer.start();
    direct.start();
    void (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") consumer.renewPulls();
    })().catch(() => {});
    executions.start();
    state = "running";
    heartbeat.start();
    log.info({ slots: config.slots, memoryBudgetMb: memoryBudgetMb(config), ...pool.stats() }, "agent running");

    const connection = nc;
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        state = "draining";
        pool.drain(); // jobs parked for a container go back at once, for another agent
        heartbeat.announce();
        log.info({ inFlight: consumer.inFlight }, "agent draining");
        // In-flight calls get the drain timeout; then their containers go (the calls end as platform failures
        // and are handed back). Every later step is bounded too: the whole stop takes at most the drain timeout
        // plus STOP_STEP_MS per step, which `npm run up` and the systemd unit allow for (REVIEW C9).
        const drainTimer = setTimeout(() => void Promise.allSettled([pool.stop(), execPool.stop()]), config.drainTimeoutMs);
        await runStopSteps([{ name: "in-flight calls", run: () => Promise.all([direct.stop(), consumer.stop(), executions.stop()]) }], log, config.drainTimeoutMs + STOP_STEP_MS);
        clearTimeout(drainTimer);
        state = "stopped";
        await runStopSteps(
          [
            { name: "heartbeat", run: () => heartbeat.stop(status()) },
            { name: "settings", run: () => jobSettings.stop() },
            { name: "stall watch", run: () => stalls.stop() },
            { name: "job leases", run: () => leases.stop() },
            { name: "outbox", run: () => outbox.stop() },
            { name: "containers", run: () => Promise.allSettled([pool.stop(), execPool.stop(), functions.stop()]) },
            { name: "nats", run: () => connection.drain() },
          ],
          log,
          STOP_STEP_MS,
        );
        log.info("agent stopped");
      })());
    return { agentId: config.agentId, stop, status };
  } catch (err) {
    await Promise.allSettled([pool.stop(), execPool.stop()]);
    await nc?.close();
    throw err;
  }
}
