// The hostile suite's fabric and its checks, one per test file: an in-process fabric (gateway, controller,
// agent, FerretDB) driven only through its public API, a canary per isolation whose warm latency is the
// health signal, a tap on the records stream, and a gate that keeps measurements apart from attacks.
//
// Every case: attack (side by side with a few others of its isolation) → health check (alone): nothing escaped
// the agent, the agent is the same one and running, and the canary's p50 over a few calls is within
// HEALTH_SLACK_MS of its baseline, measured at the start of the file and again before each block of cases.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startFabric, waitUntilHealthy, type Fabric } from "../harness/fabric.js";
import { eventually } from "../harness/eventually.js";
import { CrashWatch } from "../harness/crash-watch.js";
import { QuietGate } from "../harness/quiet-gate.js";
import { AgentContainers } from "../harness/containers.js";
import { RecordTap } from "../harness/record-tap.js";
import { FINAL_STATUSES, type FinalStatus, type InvocationResult } from "../../shared/schemas/invocation.js";
import { JOBS_CONSUMER, JOBS_STREAM } from "../../shared/subjects.js";

export const ISOLATIONS = ["runc", "gvisor"] as const;
export const RUNTIMES = ["python3", "nodejs"] as const;
export type Isolation = (typeof ISOLATIONS)[number];
export type Runtime = (typeof RUNTIMES)[number];

/** The canary's p50 after a case may exceed its baseline p50 by this much (the fairness bound). */
export const HEALTH_SLACK_MS = 20;
/** Canary calls per health sample, and samples taken before a health check fails. */
const HEALTH_SAMPLES = 7;
const HEALTH_ATTEMPTS = 3;
/** Cases of one isolation that attack at once. */
export const BATCH = 4;
/** A test that has not finished after this has hung: it fails rather than stall the suite. */
export const CASE_TIMEOUT_MS = 120_000;
/** Marker a forged frame puts in its output: seeing it in an answer means a forgery was accepted. */
export const FORGED = "FORGED-BY-HANDLER";

const CANARY_CODE = "def handler(event, context):\n    return event\n";

export interface Answer {
  /** HTTP status of the invoke call. */
  status: number;
  body: any;
  /** Request sent → answer received, ms. */
  ms: number;
  /** Host time (epoch ms) at which the answer arrived. */
  answeredAt: number;
}

export const p50 = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};

const short = (v: unknown, n = 400): string => {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text === undefined ? String(v) : text.length > n ? `${text.slice(0, n)}…(${text.length} chars)` : text;
};

/** A one-line account of an invocation result, for assertion messages. */
export const describeResult = (r: Partial<InvocationResult> | undefined): string =>
  r ? `status ${r.status}, error ${r.error?.code ?? "-"}: ${short(r.error?.message ?? "", 200)}, output ${short(r.output, 200)}, logs ${short(r.logs ?? "", 160)}` : "no result";

export interface HostileOptions {
  agentEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
}

export class Hostile {
  readonly gate = new QuietGate();
  readonly crash = new CrashWatch().start();
  readonly baseline = new Map<Isolation, number>();
  private readonly canaries = new Map<Isolation, string>();
  /** When a canary sample that passed began, per isolation. */
  private readonly canaryPassedAt = new Map<Isolation, number>();
  /** Health figures for the file's summary line. */
  readonly stats = { checks: 0, reused: 0, resamples: 0, rebaselines: 0, worstP50: new Map<Isolation, number>(), slowAfter: [] as string[] };
  /** The host's 1-minute load average when each isolation's baseline was measured. */
  private readonly baselineLoad = new Map<Isolation, number>();
  /** When each case attacked: an error that escapes is laid at the door of the cases attacking at the time. */
  private readonly windows: Array<{ name: string; start: number; end: number }> = [];
  /** Functions deleted through the API whose containers may not all be removed yet. */
  private readonly retiring = new Set<string>();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly fabric: Fabric,
    readonly tap: RecordTap,
    readonly containers: AgentContainers,
  ) {}

  static async start(opts: HostileOptions = {}): Promise<Hostile> {
    const fabric = await startFabric({
      agentEnv: {
        WEFT_STEM_CELLS: "2",
        // A stuck invocation must not hold the file's end hostage.
        WEFT_DRAIN_TIMEOUT_MS: "3000",
        ...opts.agentEnv,
      },
      // A call that is never answered shows up as a 202 after this, not after 60 s.
      // On a shared, overloaded machine a deploy may wait on the controller longer than the default 5 s.
      gatewayEnv: { WEFT_SYNC_WAIT_MS: "25000", WEFT_CONTROLLER_TIMEOUT_MS: "20000", ...opts.gatewayEnv },
    });
    const tap = await RecordTap.start(fabric.nats.url);
    const h = new Hostile(fabric, tap, new AgentContainers(fabric.agent.agentId));
    for (const isolation of ISOLATIONS) await h.startCanary(isolation);
    return h;
  }

  get agentId(): string {
    return this.fabric.agent.agentId;
  }

  /** A function name no other case uses. */
  name(prefix: string): string {
    return `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40)}-${randomBytes(3).toString("hex")}`;
  }

  async deploy(name: string, spec: Record<string, unknown>): Promise<any> {
    const res = await this.request("PUT", `/v1/functions/${name}`, spec);
    assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${short(res.body)}`);
    return res.body;
  }

  /**
   * Deploys a function whose version has a build (a bundle, a rust package) and waits until it is built: `ready`,
   * or the test fails with the build's error.
   */
  async deployBuilt(name: string, spec: Record<string, unknown>, buildMs = 60_000): Promise<void> {
    await this.deploy(name, spec);
    let build: { status: string; error?: string } | undefined;
    await eventually(async () => {
      const r = await this.request("GET", `/v1/functions/${name}`);
      build = r.status === 200 ? r.body.build : undefined;
      return build?.status === "building" ? undefined : true;
    }, `the build of ${name}`, buildMs, 250);
    assert.equal(build?.status, "ready", `${name} did not build: ${build?.error ?? JSON.stringify(build)}`);
  }

  async request(method: string, path: string, body?: unknown, timeoutMs = 90_000): Promise<Answer> {
    const started = performance.now();
    const res = await fetch(this.fabric.httpUrl + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const answeredAt = Date.now();
    const deleted = method === "DELETE" && res.ok ? path.match(/^\/v1\/functions\/([^/?]+)$/)?.[1] : undefined;
    if (deleted !== undefined) this.retiring.add(decodeURIComponent(deleted));
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the assertion message
    }
    return { status: res.status, body: parsed, ms: performance.now() - started, answeredAt };
  }

  invoke(name: string, event: unknown, query = ""): Promise<Answer> {
    return this.request("POST", `/v1/functions/${name}/invoke${query}`, event === undefined ? "null" : event);
  }

  /**
   * The caller got the answer (not a 202), its status is one of `allowed`, and the invocation has exactly one
   * final record, of attempt 1, both as published and as stored: the handler's outcome was final, never retried.
   */
  async settled(a: Answer, allowed: readonly FinalStatus[], what = "the call"): Promise<InvocationResult> {
    assert.notEqual(a.status, 202, `${what}: answered 202 after the sync wait instead of with its outcome: ${short(a.body)}`);
    assert.equal(a.status, 200, `${what}: HTTP ${a.status} ${short(a.body)}`);
    const r = a.body as InvocationResult;
    const first = await this.tap.firstFinal(r.invocationId, 15_000);
    assert.equal(first.attempt, 1, `${what}: the final record is of attempt ${first.attempt}: the call was retried (${describeResult(r)})`);
    assert.ok(allowed.includes(r.status), `${what}: ${describeResult(r)}; expected status ${allowed.join(" or ")}`);
    assert.equal(this.tap.finalsOf(r.invocationId).length, 1, `${what}: more than one final record`);
    assert.equal(first.status, r.status, `${what}: the record says ${first.status}, the caller was told ${r.status}`);
    const stored = await this.storedRecord(r.invocationId, what);
    assert.equal(stored.status, r.status, `${what}: the stored record says ${stored.status}`);
    assert.equal(stored.attempt, 1, `${what}: the stored record is of attempt ${stored.attempt}`);
    return r;
  }

  /** The invocation's record as GET /v1/invocations/{id} answers it, once final. */
  async storedRecord(invocationId: string, what = "the call"): Promise<any> {
    let last: Answer | undefined;
    try {
      return await eventually(async () => {
        last = await this.request("GET", `/v1/invocations/${invocationId}`);
        return last.status === 200 && (FINAL_STATUSES as readonly string[]).includes(last.body.status) ? last.body : undefined;
      }, `the stored record of ${invocationId}`, 8000);
    } catch {
      assert.fail(`${what}: GET /v1/invocations/${invocationId} never showed a final record; it last answered ${last?.status} ${short(last?.body)}`);
    }
  }

  /** Runs a case: its attack beside others, then the health check alone. */
  async run(name: string, isolation: Isolation, attack: () => Promise<void>): Promise<void> {
    const mark = this.crash.mark;
    await this.gate.shared(() => this.attacking(name, attack));
    const attackEnded = Date.now();
    await this.gate.quietly(() => this.checkHealth(isolation, mark, attackEnded, name));
  }

  /** Runs an attack and remembers when it ran. */
  async attacking(name: string, attack: () => Promise<void>): Promise<void> {
    const window = { name, start: Date.now(), end: Infinity };
    this.windows.push(window);
    try {
      await attack();
    } finally {
      window.end = Date.now();
    }
  }

  /**
   * The health check, inside a quiet section: nothing escaped into the process since `crashMark` (a crash
   * of the agent, had it been its own process), the same agent is running, the canary is within its bound.
   */
  async checkHealth(isolation: Isolation, crashMark: number, attackEnded = Date.now(), caseName = "the file's start"): Promise<void> {
    this.stats.checks++;
    const escaped = this.crash.since(crashMark);
    if (escaped.length > 0) {
      const suspects = [...new Set(escaped.flatMap((e) => this.windows.filter((w) => w.start <= e.at && e.at <= w.end).map((w) => w.name)))];
      assert.fail(`errors escaped into the process (the agent would have crashed) while these cases attacked: ${suspects.join("; ")}\n${CrashWatch.describe(escaped)}`);
    }
    const status = this.fabric.agent.status();
    assert.equal(status.state, "running", `agent state ${status.state}`);
    const health = await this.request("GET", "/healthz");
    assert.equal(health.status, 200, `GET /healthz: ${short(health.body)}`);
    const agents = (health.body.agents ?? []) as Array<{ agentId: string; state: string }>;
    assert.deepEqual(agents.map((a) => [a.agentId, a.state]), [[this.agentId, "running"]], "the one agent, still heartbeating as running");
    await this.retiredContainersRemoved();
    // A passing sample begun, in a quiet section, after this case's attack ended speaks for this case too.
    if ((this.canaryPassedAt.get(isolation) ?? 0) >= attackEnded) {
      this.stats.reused++;
      return;
    }
    const started = Date.now();
    await this.canaryWithinBound(isolation, caseName);
    this.canaryPassedAt.set(isolation, started);
  }

  /**
   * The canary's p50 over HEALTH_SAMPLES calls is within HEALTH_SLACK_MS of its baseline. Up to two
   * re-samples are taken, a second apart: removing a retired container briefly loads dockerd, and the
   * machine is shared, so a momentary spike is no damage to the fabric; a stalled agent or work a case left
   * running is still there a second later.
   */
  private async canaryWithinBound(isolation: Isolation, caseName: string): Promise<void> {
    const baseline = this.baseline.get(isolation)!;
    const bound = baseline + HEALTH_SLACK_MS;
    const seen: number[] = [];
    for (let attempt = 0; attempt < HEALTH_ATTEMPTS; attempt++) {
      if (attempt > 0) {
        this.stats.resamples++;
        await new Promise((r) => setTimeout(r, 1000));
      }
      seen.push(p50(await this.canarySample(isolation, HEALTH_SAMPLES)));
      this.stats.worstP50.set(isolation, Math.max(this.stats.worstP50.get(isolation) ?? 0, seen.at(-1)!));
      if (seen.at(-1)! <= bound) break;
    }
    if (seen.length > 1) this.stats.slowAfter.push(`${caseName} (${isolation} canary): ${seen.map((x) => x.toFixed(1)).join(", ")} ms`);
    if (seen.at(-1)! <= bound) return;
    const failed = `canary on ${isolation}: p50 ${seen.map((x) => x.toFixed(1)).join(", ")} ms, bound ${bound.toFixed(1)} ms (baseline ${baseline.toFixed(1)} + ${HEALTH_SLACK_MS}, at load ${this.baselineLoad.get(isolation)?.toFixed(1)}; load now ${loadavg()[0]!.toFixed(1)})`;
    // The machine is shared: its load may have doubled since the baseline, which slows the canary whatever the
    // fabric does. Then, and only when none of this agent's containers but the canaries spends CPU (no work left
    // running), the baseline is measured again, and the canary must be within the bound of that.
    if (!(await this.loadRoseSinceBaseline(isolation))) assert.fail(failed);
    const burning = await this.containersBurning();
    if (burning.length > 0) assert.fail(`${failed}; the load rose, but these containers spend CPU: ${burning.join(", ")}`);
    this.stats.rebaselines++;
    await this.measureBaseline(isolation);
    const fresh = this.baseline.get(isolation)!;
    const again = p50(await this.canarySample(isolation, HEALTH_SAMPLES));
    if (again > fresh + HEALTH_SLACK_MS) assert.fail(`${failed}; measured again at this load: baseline ${fresh.toFixed(1)} ms, p50 ${again.toFixed(1)} ms`);
  }

  /** The host's load rose by half, and by more than 4, since `isolation`'s baseline: other work is loading the cores. */
  private async loadRoseSinceBaseline(isolation: Isolation): Promise<boolean> {
    const then = this.baselineLoad.get(isolation) ?? Infinity;
    const now = loadavg()[0]!;
    return now >= then * 1.5 && now - then > 4;
  }

  /**
   * Every container of a function deleted so far is removed. Removing a container (a gVisor one above all)
   * loads dockerd and the cores for seconds on a loaded machine: the canary must not pay for that clean-up
   * as if it were damage. A container the agent cannot remove within a minute is damage, and fails the case.
   */
  private async retiredContainersRemoved(): Promise<void> {
    for (const name of [...this.retiring]) {
      await this.containersRemoved(name);
      this.retiring.delete(name);
    }
  }

  /** Waits until every container of the deleted function `name` is removed; one still there after a minute is damage. */
  async containersRemoved(name: string): Promise<void> {
    let left: string[] = [];
    try {
      await eventually(async () => ((left = await this.containers.ids(name, true)).length === 0 ? true : undefined), `${name}'s containers removed`, 60_000, 100);
    } catch {
      assert.fail(`the deleted function ${name} still has containers 60 s later: ${left.map((id) => id.slice(0, 12)).join(", ")}`);
    }
  }

  /** This agent's running containers, canaries aside, that spent over 50 ms of CPU in a second. */
  private async containersBurning(): Promise<string[]> {
    const canaries = new Set<string>();
    for (const name of this.canaries.values()) for (const id of await this.containers.ids(name)) canaries.add(id);
    const others = (await this.containers.ids()).filter((id) => !canaries.has(id));
    const growth = await this.containers.cpuGrowth(others, 1000);
    return [...growth].filter(([, ms]) => ms > 50).map(([id, ms]) => `${id.slice(0, 12)}: ${ms.toFixed(0)} ms`);
  }

  /** Measures the canary's baseline p50 on an isolation (inside a quiet section). */
  async measureBaseline(isolation: Isolation): Promise<void> {
    await this.canarySample(isolation, 3);
    this.baselineLoad.set(isolation, loadavg()[0]!);
    this.baseline.set(isolation, p50(await this.canarySample(isolation, 21)));
  }

  /** Latencies (ms) of `n` sequential canary calls; each must echo its event. */
  async canarySample(isolation: Isolation, n: number): Promise<number[]> {
    const name = this.canaries.get(isolation)!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = await this.invoke(name, { i });
      assert.equal(a.status, 200, `canary ${isolation}: HTTP ${a.status} ${short(a.body)}`);
      assert.equal(a.body.status, "ok", `canary ${isolation}: ${describeResult(a.body)}`);
      assert.deepEqual(a.body.output, { i });
      out.push(a.ms);
    }
    return out;
  }

  private async startCanary(isolation: Isolation): Promise<void> {
    const name = this.name(`canary-${isolation}`);
    await this.deploy(name, { runtime: "python3", isolation, code: CANARY_CODE });
    this.canaries.set(isolation, name);
    await this.canarySample(isolation, 2);
    await this.measureBaseline(isolation);
  }

  /**
   * Every invocation of the file was finished exactly once: WEFT_JOBS holds no job (none left un-acked, none
   * given up on after MaxDeliver), and no invocation has a second final record or one from a later attempt.
   */
  async assertNothingRetried(): Promise<void> {
    const nc = await connect({ servers: this.fabric.nats.url, name: "hostile-jobs-check" });
    try {
      const jsm = await jetstreamManager(nc);
      const state = async () => {
        const c = await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER);
        const st = await jsm.streams.info(JOBS_STREAM);
        return { pending: c.num_pending, ackPending: c.num_ack_pending, messagesInStream: st.state.messages };
      };
      const empty = (x: Awaited<ReturnType<typeof state>>) => x.pending === 0 && x.ackPending === 0 && x.messagesInStream === 0;
      const left = await eventually(async () => (empty(await state()) ? true : undefined), "WEFT_JOBS to be empty", 15_000).then(
        () => undefined,
        () => state(),
      );
      const retried = this.tap.retried();
      assert.deepEqual(retried, [], `invocations run more than once: ${short(retried, 2000)}`);
      assert.equal(left, undefined, `jobs left in ${JOBS_STREAM} (never finished, or given up after MaxDeliver): ${short(left)}`);
    } finally {
      await nc.close();
    }
  }

  /** Stops the fabric; one whose agent hangs on a stuck invocation is torn down by force instead. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.crash.stop();
      const figures = ISOLATIONS.map((i) => `${i} baseline ${this.baseline.get(i)?.toFixed(1)} ms, worst sample ${this.stats.worstP50.get(i)?.toFixed(1) ?? "-"} ms`);
      process.stderr.write(`hostile health: ${this.stats.checks} checks (${this.stats.reused} covered by a sample taken after them), ${this.stats.resamples} re-samples, ${this.stats.rebaselines} baselines re-measured as the load rose; canary p50 ${figures.join("; ")}\n`);
      for (const slow of this.stats.slowAfter) process.stderr.write(`hostile health: re-sampled after ${slow}\n`);
      await this.tap.stop().catch(() => undefined);
      const stopped = await Promise.race([
        this.fabric.stop().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 20_000).unref()),
      ]);
      if (stopped) return;
      const removed = await this.containers.removeAll();
      await this.fabric.nats.cleanup().catch(() => undefined);
      process.stderr.write(`hostile: the fabric did not stop within 20 s (a stuck invocation?); removed ${removed} containers and NATS\n`);
      // The hung agent's handles would keep this test process alive for ever.
      setTimeout(() => process.exit(), 2000).unref();
    })();
    return this.stopping;
  }
}

export interface CaseWhere {
  isolation: Isolation;
  /** A runtime of RUNTIMES, or one a file of its own attacks (rust, typescript). */
  runtime?: string;
}

/**
 * Registers the file's fabric (started before its first test, stopped after its last) and returns a getter
 * and a way to declare cases. A case's name says its attack; its runtime and isolation are appended.
 */
export function hostileSuite(opts: HostileOptions = {}) {
  let h: Hostile | undefined;
  before(async () => {
    h = await Hostile.start(opts);
    await waitUntilHealthy(h.fabric.httpUrl);
  }, { timeout: 180_000 });
  after(async () => {
    await h?.stop();
  }, { timeout: 60_000 });
  const get = (): Hostile => {
    if (!h) throw new Error("the hostile fabric did not start");
    return h;
  };
  return {
    get,
    /**
     * Re-measures the canary's baseline before the cases of the enclosing describe block (call it inside
     * one): the machine is shared, and its load an hour into a run is not what it was at the start.
     */
    baselines(): void {
      before(() => get().gate.quietly(async () => {
        for (const isolation of ISOLATIONS) await get().measureBaseline(isolation);
      }));
    },
    /** A case: the attack runs beside others of its batch; the health check follows it, alone. */
    case(name: string, where: CaseWhere, attack: (h: Hostile) => Promise<void>): void {
      const tag = where.runtime ? `${where.runtime}, ${where.isolation}` : where.isolation;
      const full = `${name} [${tag}]`;
      test(full, { timeout: CASE_TIMEOUT_MS }, () => get().run(full, where.isolation, () => attack(get())));
    },
    /** A case that must run alone (it measures latency under its own load), health check included. */
    alone(name: string, where: CaseWhere, attack: (h: Hostile) => Promise<void>): void {
      const tag = where.runtime ? `${where.runtime}, ${where.isolation}` : where.isolation;
      const full = `${name} [${tag}]`;
      test(full, { timeout: CASE_TIMEOUT_MS }, () =>
        get().gate.quietly(async () => {
          const mark = get().crash.mark;
          await get().attacking(full, () => attack(get()));
          await get().checkHealth(where.isolation, mark, Date.now(), full);
        }),
      );
    },
    /** The file's last test: nothing it ran was retried or left in WEFT_JOBS. */
    finally(): void {
      test("no invocation was retried, and no job was left in WEFT_JOBS", { timeout: 60_000 }, () => get().assertNothingRetried());
    },
  };
}
