// npm run up as a supervisor: a program that dies is restarted and the rest keep serving; quick deaths in a row are a
// crash loop, shown in the gateway's /healthz and in up's log until the program has run long enough; the kill grace
// is derived from the programs' own drain settings; SIGTERM stops everything, nothing is SIGKILLed or left running.
// With --nats-cluster 3: three clustered nats-servers, R3 streams, and the loss of one node goes unnoticed.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { FUNCTIONS_BUCKET, JOB_ADVISORIES_STREAM, JOBS_CONSUMER, JOBS_STREAM, RECORDS_STREAM } from "../shared/subjects.js";
import { eventually } from "./harness/eventually.js";
import { http } from "./harness/fabric.js";
import { alive, startUp, type UpProcess } from "./harness/up-process.js";

const FAST_RESTARTS = {
  WEFT_UP_RESTART_DELAY_MS: "100",
  WEFT_UP_RESTART_MAX_MS: "1000",
  WEFT_UP_STABLE_MS: "4000",
  WEFT_DRAIN_TIMEOUT_MS: "7000",
  WEFT_STOP_MARGIN_MS: "3000",
};

const running: UpProcess[] = [];
after(async () => {
  await Promise.all(running.map((u) => u.cleanup()));
});

async function deployAndInvoke(up: UpProcess, name: string, value: string): Promise<void> {
  const put = await http(up.httpUrl, "PUT", `/v1/functions/${name}`, {
    runtime: "python3",
    code: "def handler(event, context):\n    return {'echo': event['v']}\n",
  });
  assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
  await invokes(up, name, value);
}

async function invokes(up: UpProcess, name: string, value: string): Promise<void> {
  const res = await http(up.httpUrl, "POST", `/v1/functions/${name}/invoke`, { v: value });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, "ok", JSON.stringify(res.body));
  assert.deepEqual(res.body.output, { echo: value });
}

const isRunning = (c: { state: string; pid?: number }) => c.state === "running" && c.pid !== undefined;

/** The scheduling policy of each of a process's threads (field 41 of its task's stat; SCHED_BATCH is 3). */
function threadPolicies(pid: number): number[] {
  const policies: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
    } catch {
      continue; // the thread ended meanwhile
    }
    policies.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]));
  }
  return policies;
}
const SCHED_BATCH = 3;

test("up restarts a program that dies, shows a crash loop in /healthz and its log, and stops everything only on SIGTERM", async () => {
  const up = await startUp([], FAST_RESTARTS);
  running.push(up);
  const pids: Record<string, number> = {};
  for (const name of ["nats-server", "controller", "agent", "gateway"]) pids[name] = (await up.component(name, isRunning, "running")).pid!;
  await up.healthy();
  // WEFT_SCHED_BATCH's default: the components put their threads under SCHED_BATCH, and up starts nats-server under it.
  for (const [name, pid] of Object.entries(pids)) {
    const policies = threadPolicies(pid);
    assert.ok(policies.length > 0 && policies.every((p) => p === SCHED_BATCH), `${name}: thread policies ${policies.join(",")}`);
  }
  assert.match(up.stderr(), /stop graces \(SIGTERM to SIGKILL\): controller 3 s, agent 10 s, gateway 13 s/, "grace = own drain bound + margin");
  await deployAndInvoke(up, "up-echo", "before");

  // The agent dies: it alone is restarted, and the fabric serves again.
  process.kill(pids.agent!, "SIGKILL");
  const agent = await up.component("agent", (c) => isRunning(c) && c.restarts === 1, "restarted once");
  assert.notEqual(agent.pid, pids.agent);
  assert.match(agent.lastExit ?? "", /^SIGKILL after/);
  assert.equal(agent.crashLoop, false);
  for (const name of ["nats-server", "controller", "gateway"]) {
    assert.equal((await up.component(name, isRunning, "running")).pid, pids[name], `${name} kept running`);
  }
  await up.healthy();
  await invokes(up, "up-echo", "after the agent restart");

  // Three quick deaths in a row: a crash loop, shown by the gateway while the rest still serves.
  let pid = pids.controller!;
  for (let i = 1; i <= 3; i++) {
    process.kill(pid, "SIGKILL");
    pid = (await up.component("controller", (c) => isRunning(c) && c.restarts === i, `restart ${i}`)).pid!;
  }
  const looping = await up.health();
  assert.equal(looping.status, 200, "a crash-looping controller does not take invocations down");
  assert.ok(looping.body.crashLoops?.some((l) => l.startsWith("controller on ")), JSON.stringify(looping.body));
  assert.match(up.stderr(), /controller died \(SIGKILL after [\d.]+ s\); restarting in \d+ ms; CRASH LOOP: 3 deaths in a row/);
  // Once it has run the stable time, the loop is over.
  await up.component("controller", (c) => isRunning(c) && !c.crashLoop, "crash loop over", 15_000);
  assert.equal((await up.health()).body.crashLoops, undefined);
  assert.match(up.stderr(), /controller has run 4 s since its last restart: crash loop over/);

  const current = (await up.health()).body.supervisors![0]!.components.map((c) => c.pid!);
  const started = Date.now();
  assert.equal(await up.stop("SIGTERM"), 0, up.stderr());
  assert.ok(Date.now() - started < 20_000, "stopped within the graces");
  assert.doesNotMatch(up.stderr(), /SIGKILL\n/, "nothing needed SIGKILL");
  assert.match(up.stderr(), /stopping gateway[^\n]*\n(.*\n)*weft up: stopping agent[^\n]*\n(.*\n)*weft up: stopping controller[^\n]*\n(.*\n)*weft up: stopping nats-server/);
  for (const p of current) assert.equal(alive(p), false, `pid ${p} is gone`);
});

test("--nats-cluster 3: three clustered nats-servers, R3 streams and bucket; the fabric serves on two nodes while the third is dead", async (t) => {
  // A long restart delay keeps the killed node dead for a while: the fabric must serve without it.
  const deadForMs = 15_000;
  const up = await startUp(["--nats-cluster", "3"], { ...FAST_RESTARTS, WEFT_UP_RESTART_DELAY_MS: String(deadForMs), WEFT_UP_RESTART_MAX_MS: String(deadForMs) });
  running.push(up);
  await up.healthy(90_000);
  const nodes = await Promise.all(["nats-1", "nats-2", "nats-3"].map((n) => up.component(n, isRunning, "running")));
  assert.match(up.stderr(), /nats-server cluster of 3 on .*streams with 3 replica\(s\)/);

  const nc = await connect({ servers: up.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    // A stream created moments ago may still be electing its leader: until then the meta leader answers its info
    // without replicas. Wait for the election, then check the followers.
    const electedWithFollowers = (cluster: { leader?: string; replicas?: unknown[] } | undefined) =>
      cluster?.leader && cluster.replicas?.length === 2 ? cluster : undefined;
    for (const stream of [JOBS_STREAM, RECORDS_STREAM, JOB_ADVISORIES_STREAM, `KV_${FUNCTIONS_BUCKET}`]) {
      const info = await jsm.streams.info(stream);
      assert.equal(info.config.num_replicas, 3, stream);
      await eventually(async () => electedWithFollowers((await jsm.streams.info(stream)).cluster), `${stream} to have a leader and two followers`, 20_000, 100);
    }
    await eventually(async () => electedWithFollowers((await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER)).cluster), "the jobs consumer to be replicated too", 20_000, 100);
  } finally {
    await nc.close();
  }
  await deployAndInvoke(up, "up-cluster-echo", "three nodes");

  const killedAt = Date.now();
  process.kill(nodes[1]!.pid!, "SIGKILL");
  await up.component("nats-2", (c) => c.state === "restarting", "dead, waiting to restart");
  // Clients on the dead node reconnect to another, and streams it led elect a new leader: calls fail meanwhile
  // (503, retryable), then succeed.
  await eventually(async () => (await invokes(up, "up-cluster-echo", "two nodes").then(() => true, () => undefined)), "a call to succeed on two nodes", deadForMs - 3000, 200);
  const recoveredMs = Date.now() - killedAt;
  for (let i = 0; i < 5; i++) await invokes(up, "up-cluster-echo", `two nodes ${i}`);
  assert.equal((await up.health()).body.supervisors?.[0]?.components.find((c) => c.name === "nats-2")?.state, "restarting", "still dead");
  t.diagnostic(`calls succeeded again ${recoveredMs} ms after a node's SIGKILL`);

  await up.component("nats-2", (c) => isRunning(c) && c.restarts === 1, "restarted", deadForMs + 30_000);
  await invokes(up, "up-cluster-echo", "node back");
  assert.equal(await up.stop("SIGINT"), 0, up.stderr());
  assert.match(up.stderr(), /stopping nats-3[^\n]*\n(.*\n)*weft up: stopping nats-2[^\n]*\n(.*\n)*weft up: stopping nats-1/);
});
