// Records reach MongoDB within 5 s of recovery: after a MongoDB outage longer than a pull request's expiry, and
// after a controller is killed (SIGKILL) while it holds records it could not write. The controller runs as its
// own program (controller/main.ts) so it can really be killed; MongoDB is a private FerretDB stopped and started.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "./harness/nats.js";
import { startPrivateFerretDb, type PrivateMongo } from "./harness/ferretdb.js";
import { eventually } from "./harness/eventually.js";
import { finalEvent } from "./fixtures/record-events.js";
import { controllerSubject, recordSubject } from "../shared/subjects.js";
import type { ControllerReply } from "../shared/schemas/controller-api.js";
import type { RecordEvent } from "../shared/schemas/invocation.js";

const RECOVERY_MS = 5000;
/** Longer than a records pull request's expiry (5 s) plus its grace, so a pull is left behind by the outage. */
const OUTAGE_MS = 8000;

let nats: NatsServer;
let mongo: PrivateMongo;
let nc: NatsConnection;
const children = new Set<ChildProcess>();

interface RunningController {
  child: ChildProcess;
  /** Resolves when a log line with this message is printed. */
  logged(msg: string): Promise<void>;
}

/** Starts controller/main.ts and waits for "controller started". */
async function startControllerProgram(): Promise<RunningController> {
  const child = spawn(process.execPath, ["--import", "tsx", "controller/main.ts"], {
    env: {
      ...process.env,
      WEFT_NATS_URL: nats.url,
      WEFT_MONGO_URL: mongo.url,
      WEFT_MONGO_DB: "weft_recovery",
      WEFT_LOG_LEVEL: "info",
      WEFT_MONGO_TIMEOUT_MS: "500",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const waiters: Array<[string, () => void]> = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let msg: string | undefined;
    try {
      msg = (JSON.parse(line) as { msg?: string }).msg;
    } catch {
      return;
    }
    for (const [wanted, resolve] of waiters) if (msg === wanted) resolve();
  });
  const logged = (msg: string) => new Promise<void>((resolve) => waiters.push([msg, resolve]));
  const started = logged("controller started");
  await Promise.race([started, once(child, "exit").then(() => Promise.reject(new Error("controller exited at start")))]);
  return { child, logged };
}

async function kill(c: RunningController): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill("SIGKILL");
  await once(c.child, "exit");
}

async function request<T>(op: "invocations.get" | "functions.put", body: unknown): Promise<ControllerReply<T>> {
  return (await nc.request(controllerSubject(op), JSON.stringify(body), { timeout: 10_000 })).json<ControllerReply<T>>();
}

/** Deploys a function; records are shown only for its live incarnation, so they must name it. */
async function deploy(name: string): Promise<(over?: Partial<RecordEvent>) => RecordEvent> {
  const reply = await request<{ incarnation: string }>("functions.put", { name, spec: { runtime: "nodejs", code: "exports.handler = async (e) => e\n" } });
  assert.ok(reply.ok, JSON.stringify(reply));
  const { incarnation } = reply.result;
  return (over = {}) => finalEvent(name, { incarnation, ...over });
}

/** Milliseconds from `since` until every record is readable through the controller. */
async function landed(events: RecordEvent[], since: number): Promise<number> {
  for (const ev of events) {
    await eventually(async () => ((await request("invocations.get", { invocationId: ev.invocationId })).ok ? true : undefined), `record ${ev.invocationId}`, 60_000, 25);
  }
  return Date.now() - since;
}

async function publish(events: RecordEvent[]): Promise<void> {
  const js = jetstream(nc);
  for (const ev of events) await js.publish(recordSubject(ev.functionName), JSON.stringify(ev), { msgID: `${ev.invocationId}.final` });
}

before(async () => {
  nats = await startNats();
  mongo = await startPrivateFerretDb();
  nc = await connect({ servers: nats.url });
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  await nc?.close();
  await nats?.cleanup();
  await mongo?.cleanup();
});

test("records held through a MongoDB outage land within 5 s of its return", async (t) => {
  const controller = await startControllerProgram();
  try {
    const record = await deploy("recover-mongo");
    const first = [record()];
    await publish(first);
    await landed(first, Date.now());

    await mongo.stop();
    const holding = controller.logged("MongoDB unavailable; holding records");
    const during = Array.from({ length: 20 }, () => record());
    await publish(during);
    await holding;
    // The scenario: an outage outlasting the pull request the held records came in.
    await delay(OUTAGE_MS);
    await mongo.restart();
    const ms = await landed(during, Date.now());
    t.diagnostic(`records landed ${ms} ms after MongoDB came back`);
    assert.ok(ms <= RECOVERY_MS, `landed ${ms} ms after MongoDB was back`);

    const after = [record()];
    await publish(after);
    assert.ok((await landed(after, Date.now())) <= RECOVERY_MS, "and the ingest goes on");
  } finally {
    await kill(controller);
  }
});

test("records a killed controller held land within 5 s of its replacement's start", async (t) => {
  const first = await startControllerProgram();
  const record = await deploy("recover-controller");
  await mongo.stop();
  const holding = first.logged("MongoDB unavailable; holding records");
  const held = Array.from({ length: 20 }, () => record());
  await publish(held);
  await holding;
  await kill(first);
  await mongo.restart();
  const second = await startControllerProgram();
  try {
    const ms = await landed(held, Date.now());
    t.diagnostic(`records landed ${ms} ms after the new controller started`);
    assert.ok(ms <= RECOVERY_MS, `landed ${ms} ms after the replacement started`);
  } finally {
    await kill(second);
  }
});
