// The whole fabric in one test process: a private nats-server, the controller, one gateway and one agent,
// all talking over NATS exactly as they do when run as separate programs.
import { pino } from "pino";
import { randomBytes } from "node:crypto";
import { startNats, type NatsServer } from "./nats.js";
import { eventually, until } from "./eventually.js";
export { eventually };
import { mongoUrl, uniqueDbName } from "./mongo.js";
import { loadGatewayConfig } from "../../gateway/config.js";
import { startGateway } from "../../gateway/app.js";
import { loadControllerConfig } from "../../controller/config.js";
import { startController } from "../../controller/app.js";
import { loadAgentConfig } from "../../agents/config.js";
import { startAgent } from "../../agents/app.js";

export interface FabricOptions {
  mongoUrl?: string;
  agentEnv?: Record<string, string>;
  controllerEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
}

type Started<T extends (...args: never[]) => Promise<unknown>> = Awaited<ReturnType<T>>;

export interface Fabric {
  nats: NatsServer;
  httpUrl: string;
  grpcAddress: string;
  mongoUrl: string;
  mongoDb: string;
  gateway: Started<typeof startGateway>;
  controller: Started<typeof startController>;
  agent: Started<typeof startAgent>;
  stop(): Promise<void>;
}

export function testLogger(name: string) {
  return pino({ level: process.env.WEFT_TEST_LOG ?? "silent", base: { component: name } });
}

export async function startFabric(opts: FabricOptions = {}): Promise<Fabric> {
  const nats = await startNats();
  const mongo = opts.mongoUrl ?? mongoUrl();
  const mongoDb = uniqueDbName("e2e");
  const common = { WEFT_NATS_URL: nats.url, WEFT_LOG_LEVEL: "info" };
  const controller = await startController(
    loadControllerConfig({ ...common, WEFT_MONGO_URL: mongo, WEFT_MONGO_DB: mongoDb, ...opts.controllerEnv }),
    testLogger("controller"),
  );
  const agent = await startAgent(
    loadAgentConfig({ ...common, WEFT_AGENT_ID: `test-${randomBytes(3).toString("hex")}`,
      // Ad-hoc sandboxes cost containers on a shared machine: only the execute tests pre-start them.
      WEFT_EXEC_POOL_SIZE: "0", ...opts.agentEnv }),
    testLogger("agent"),
  );
  const gateway = await startGateway(
    loadGatewayConfig({ ...common, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0", ...opts.gatewayEnv }),
    testLogger("gateway"),
  );
  const fabric: Fabric = {
    nats,
    httpUrl: `http://127.0.0.1:${gateway.httpPort}`,
    grpcAddress: `127.0.0.1:${gateway.grpcPort}`,
    mongoUrl: mongo,
    mongoDb,
    gateway,
    controller,
    agent,
    // Stops the parts the fabric holds now: a test may have replaced one (a restarted gateway, say).
    stop: async () => {
      await fabric.gateway.stop();
      await fabric.agent.stop();
      await fabric.controller.stop();
      await nats.cleanup();
    },
  };
  await waitUntilHealthy(fabric.httpUrl);
  return fabric;
}

/** Polls /healthz until 200: the agent's first heartbeat is the event we wait for, and it has no other hook. */
export async function waitUntilHealthy(httpUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(`${httpUrl}/healthz`).catch((e: Error) => ({ status: 0, text: async () => e.message }));
    if (res.status === 200) return;
    last = await res.text();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fabric not healthy: ${last}`);
}


/** Starts one more agent on the fabric's NATS, with no ad-hoc sandboxes (as startFabric's), plus `env`. */
export function startAnotherAgent(fabric: Pick<Fabric, "nats">, agentId: string, env: Record<string, string> = {}, logName = "agent2"): ReturnType<typeof startAgent> {
  return startAgent(loadAgentConfig({ WEFT_NATS_URL: fabric.nats.url, WEFT_AGENT_ID: agentId, WEFT_EXEC_POOL_SIZE: "0", ...env }), testLogger(logName));
}

/** Waits until the gateway lists every one of `agentIds` as running (GET /v1/agents): their heartbeats reached it. */
export async function untilAgentsRunning(httpUrl: string, agentIds: readonly string[], timeoutMs = 20_000): Promise<void> {
  await until(async () => {
    const res = await http(httpUrl, "GET", "/v1/agents");
    return res.status === 200 && agentIds.every((id) => res.body.agents?.some((a: { agentId: string; state: string }) => a.agentId === id && a.state === "running"));
  }, `the gateway hearing ${agentIds.join(", ")} running`, timeoutMs);
}

export async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
