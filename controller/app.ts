// Builds the controller from its configuration: MongoDB (source of truth), the NATS API, the function bucket
// mirror and the invocation-record ingest. main.ts runs it; tests start it in-process.
import { runStopSteps, withDeadline } from "../shared/lifecycle.js";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { connectNats, ensureTopology, openFunctionsBucket, whileJetStreamSettles } from "../shared/nats.js";
import { topologyFrom } from "../shared/config.js";
import { ControllerApi } from "./api.js";
import type { ControllerConfig } from "./config.js";
import { openDatabase, type Database } from "./database.js";
import { FunctionPublisher, type ReconcileReport } from "./function-publisher.js";
import { FunctionStore } from "./function-store.js";
import { AliasStore } from "./alias-store.js";
import { InvocationRecords } from "./invocation-records.js";
import { JobReaper } from "./job-reaper.js";
import { RetryScheduler } from "./retry-scheduler.js";
import { DeadLetterPurge } from "./dead-letters.js";
import { fetchBytesFor, RecordIngest } from "./record-ingest.js";
import { RecordRetention } from "./record-retention.js";
import { Reconciler } from "./reconciler.js";
import { SyntaxChecker } from "./syntax-check.js";
import Dockerode from "dockerode";
import { Builds, type BuildsDeps } from "./builds/builds.js";
import { BuildCollector } from "./builds/build-collector.js";
import { RUNTIME_IMAGES } from "../deploy/images.js";

export interface Controller {
  /** Stops the API, finishes the record batch in hand, closes NATS and MongoDB; idempotent. */
  stop(): Promise<void>;
  /** Mirrors MongoDB into the function bucket now (it also runs at start, on NATS reconnect and periodically). */
  reconcile(): Promise<ReconcileReport>;
  /** Records written, terminated as invalid, refused by MongoDB, and write retries since start. */
  readonly ingestStats: Readonly<RecordIngest["stats"]>;
  /** The record store, for tests and the records benchmark (plans, retention steps). */
  readonly records: InvocationRecords;
  readonly retention: RecordRetention;
}

export async function startController(config: ControllerConfig, log: Logger): Promise<Controller> {
  const database = openDatabase(config.mongoUrl, config.mongoDb, config.mongoTimeoutMs);
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats(config.natsUrl, "weft-controller", log);
    await whileJetStreamSettles(() => ensureTopology(nc!, topologyFrom(config)), "declaring the streams", log);
    return await assemble(config, log, database, nc);
  } catch (err) {
    await nc?.close();
    await database.client.close();
    throw err;
  }
}

async function assemble(config: ControllerConfig, log: Logger, database: Database, nc: NatsConnection): Promise<Controller> {
  const store = new FunctionStore(database.db);
  const records = new InvocationRecords(database.db, { rollupFlushMs: config.rollupFlushMs }, log);
  const retention = new RecordRetention(
    records,
    {
      recordMaxAgeMs: config.recordMaxAgeMs,
      recordMaxPerFunction: config.recordMaxPerFunction,
      rollupMaxAgeMs: config.rollupMaxAgeMs,
      intervalMs: config.retentionIntervalMs,
      batch: config.retentionBatch,
    },
    log,
  );
  const publisher = new FunctionPublisher(() => openFunctionsBucket(nc), log);
  const ingest = new RecordIngest(
    jetstream(nc),
    records,
    { batchSize: config.recordBatch, batchBytes: fetchBytesFor(config.recordBatchBytes, nc.info?.max_payload), flushMs: config.recordFlushMs },
    log,
  );
  const reconciler = new Reconciler({
    nc,
    topology: topologyFrom(config),
    store,
    records,
    publisher,
    intervalMs: config.reconcileIntervalMs,
    onReconnect: () => ingest.restartFetch(),
    log,
  });
  const builds = makeBuilds(config, log, (def, build, text) => api.recordBuild(def, build, text));
  const buildCollector = new BuildCollector({
    dir: config.buildDir,
    intervalMs: config.buildGcIntervalMs,
    graceMs: config.buildGcGraceMs,
    batch: config.buildGcBatch,
    stagingMaxAgeMs: config.buildTimeoutMs * 2,
    references: () => store.buildReferences(),
    log,
  });
  const api: ControllerApi = new ControllerApi({
    nc,
    db: database.db,
    store,
    aliases: new AliasStore(database.db),
    deadLetters: new DeadLetterPurge(nc),
    records,
    publisher,
    syntax: config.syntaxCheck ? new SyntaxChecker({ pythonBin: config.pythonBin }, log) : undefined,
    builds,
    requestReconcile: () => reconciler.request(),
    metricsWindowMs: config.metricsWindowMs,
    log,
  });

  const reaper = new JobReaper(nc, jetstream(nc), log, () => openFunctionsBucket(nc));
  const retries = new RetryScheduler(jetstream(nc), log);
  await firstReconcile(reconciler, log);
  reconciler.start();
  ingest.start();
  reaper.start();
  retries.start();
  records.rollups.start();
  retention.start();
  api.start();
  await resumeBuilds(builds, store, log);
  buildCollector.start();
  // The server has the subscriptions once a flush returns: from here on a request finds a responder.
  await nc.flush();
  log.info({ mongoDb: config.mongoDb, recordBatch: config.recordBatch }, "controller started");

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= shutdown(log, [
      ["api", () => api.stop()],
      ["builds", () => builds.idle()],
      ["build collector", () => buildCollector.stop()],
      ["record ingest", () => ingest.stop()],
      ["job reaper", () => reaper.stop()],
      ["retry scheduler", () => retries.stop()],
      ["record retention", () => retention.stop()],
      ["metrics rollups", () => records.rollups.stop()],
      ["reconciler", () => reconciler.stop()],
      ["nats", () => closeNats(nc, log)],
      ["mongodb", () => database.client.close()],
    ]));
  return { stop, reconcile: () => reconciler.runOnce(), ingestStats: ingest.stats, records, retention };
}

function makeBuilds(config: ControllerConfig, log: Logger, record: BuildsDeps["record"]): Builds {
  return new Builds({
    docker: new Dockerode({ socketPath: config.dockerSocket }),
    dir: config.buildDir,
    runtimeImages: RUNTIME_IMAGES,
    install: {
      network: config.buildNetwork,
      memoryMb: config.buildMemoryMb,
      cpus: config.buildCpus,
      diskMb: config.buildDiskMb,
      timeoutMs: config.buildTimeoutMs,
      caFile: config.buildCaFile,
      pipIndexUrl: config.pipIndexUrl,
      pipExtraIndexUrl: config.pipExtraIndexUrl,
      npmRegistry: config.npmRegistry,
      cargoRegistry: config.cargoRegistry,
      httpProxy: config.buildHttpProxy,
      httpsProxy: config.buildHttpsProxy,
      noProxy: config.buildNoProxy,
    },
    record,
    log,
  });
}

/** Versions whose build a stopped controller left unfinished are built again. */
async function resumeBuilds(builds: Builds, store: FunctionStore, log: Logger): Promise<void> {
  try {
    const unfinished = await store.unfinishedBuilds();
    if (unfinished.length) log.info({ count: unfinished.length }, "resuming unfinished builds");
    for (const def of unfinished) builds.start(def);
  } catch (err) {
    log.warn({ err }, "could not look for unfinished builds (MongoDB unavailable?); they resume at the next start");
  }
}

/** MongoDB may be down at start: the controller still starts, and the reconciler keeps trying. */
async function firstReconcile(reconciler: Reconciler, log: Logger): Promise<void> {
  try {
    await reconciler.runOnce();
  } catch (err) {
    log.warn({ err }, "initial reconcile failed (MongoDB or NATS unavailable); retrying in the background");
    reconciler.request();
  }
}

/** Flushes pending acks and replies when the server is reachable; never waits long on one that is not. */
async function closeNats(nc: NatsConnection, log: Logger): Promise<void> {
  if (nc.isClosed()) return;
  try {
    if (!(await withDeadline(nc.flush(), FLUSH_TIMEOUT_MS))) throw new Error(`nats flush did not finish within ${FLUSH_TIMEOUT_MS} ms`);
  } catch (err) {
    // Unacked records are redelivered to the next controller; closing matters more than this flush.
    log.warn({ err }, "NATS flush failed while stopping");
  }
  await nc.close();
}

const STEP_TIMEOUT_MS = 10_000;
/** A reachable server answers a flush in milliseconds; waiting longer only delays a stop while NATS is down. */
const FLUSH_TIMEOUT_MS = 1000;

/** Runs every step (each bounded in time) even when an earlier one fails, then reports the first failure. */
async function shutdown(log: Logger, steps: Array<[string, () => Promise<unknown>]>): Promise<void> {
  const first = await runStopSteps(steps.map(([name, run]) => ({ name, run })), log, STEP_TIMEOUT_MS);
  log.info("controller stopped");
  if (first) throw first;
}
