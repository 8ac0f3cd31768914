// Direct-call affinity (gateway/direct-affinity.ts): a function's home agent is stable, spread evenly, moves only
// when its own agent comes or goes, and gives way to the next agent in the ranking once it carries more than its
// bounded share of the gateway's calls in flight. And the subjects that address one agent (shared/subjects.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { homeAgent, LOAD_FACTOR, pickAgent, SPARE } from "../../gateway/direct-affinity.js";
import { agentDirectSubject, agentDirectWildcard, DIRECT_WILDCARD, directSubject, functionOfDirectSubject, isSubjectTail } from "../../shared/subjects.js";

const FUNCTIONS = Array.from({ length: 10_000 }, (_, i) => `fn-${i.toString(36)}`);
const AGENTS = ["agent-a", "agent-b", "agent-c", "agent-d"];

const homes = (agents: readonly string[]) => new Map(FUNCTIONS.map((f) => [f, homeAgent(f, agents)]));

test("no agent: none; one agent: that one, whatever the load", () => {
  assert.equal(homeAgent("f", []), undefined);
  assert.equal(pickAgent("f", []), undefined);
  assert.equal(pickAgent("f", ["only"], new Map([["only", 1000]])), "only");
});

test("the home does not depend on the order the agents are listed in", () => {
  const reversed = [...AGENTS].reverse();
  const rotated = [...AGENTS.slice(2), ...AGENTS.slice(0, 2)];
  for (const f of FUNCTIONS.slice(0, 500)) {
    assert.equal(homeAgent(f, reversed), homeAgent(f, AGENTS), f);
    assert.equal(homeAgent(f, rotated), homeAgent(f, AGENTS), f);
  }
});

test("functions spread evenly over the agents (each within 10 % of its share)", () => {
  const count = new Map<string, number>();
  for (const a of homes(AGENTS).values()) count.set(a!, (count.get(a!) ?? 0) + 1);
  assert.deepEqual([...count.keys()].sort(), AGENTS);
  const share = FUNCTIONS.length / AGENTS.length;
  for (const [agent, n] of count) assert.ok(Math.abs(n - share) < share * 0.1, `${agent} is home to ${n} of ${FUNCTIONS.length}`);
});

test("an agent that joins takes about its share, and only functions move to it; one that leaves moves only its own", () => {
  const before = homes(AGENTS);
  const joined = homes([...AGENTS, "agent-e"]);
  let moved = 0;
  for (const f of FUNCTIONS) {
    if (joined.get(f) === before.get(f)) continue;
    moved++;
    assert.equal(joined.get(f), "agent-e", `${f} moved from ${before.get(f)} to ${joined.get(f)}, not to the new agent`);
  }
  const share = FUNCTIONS.length / 5;
  assert.ok(Math.abs(moved - share) < share * 0.1, `${moved} of ${FUNCTIONS.length} moved`);
  const left = homes(AGENTS.filter((a) => a !== "agent-b"));
  for (const f of FUNCTIONS) {
    if (before.get(f) !== "agent-b") assert.equal(left.get(f), before.get(f), `${f} moved though its home stayed`);
    else assert.notEqual(left.get(f), "agent-b");
  }
});

test("a home under its bound takes the call; one at it gives way to the next in the function's ranking", () => {
  const f = "orders";
  const home = homeAgent(f, AGENTS)!;
  assert.equal(pickAgent(f, AGENTS), home);
  // 24 in flight over 4 agents: the bound is ceil(1.25 × 25 / 4) + SPARE = 8 + 4 = 12.
  const bound = Math.ceil((LOAD_FACTOR * 25) / 4) + SPARE;
  const others = AGENTS.filter((a) => a !== home);
  const atBound = new Map<string, number>([[home, bound], [others[0]!, bound], [others[1]!, 24 - 2 * bound], [others[2]!, 0]]);
  const next = pickAgent(f, AGENTS, atBound)!;
  assert.notEqual(next, home);
  assert.ok((atBound.get(next) ?? 0) < bound, `${next} is under the bound`);
  // The next agent is the home among those under the bound: the ranking without the ones at it.
  assert.equal(next, homeAgent(f, AGENTS.filter((a) => (atBound.get(a) ?? 0) < bound)));
  atBound.set(home, bound - 1);
  assert.equal(pickAgent(f, AGENTS, atBound), home, "under the bound again, the home takes it back");
});

test("a few calls' chance skew stays home: eight in flight over two agents never pass the bound", () => {
  const two = AGENTS.slice(0, 2);
  const f = "quiet";
  const home = homeAgent(f, two)!;
  assert.equal(pickAgent(f, two, new Map([[home, 8]])), home);
});

test("one hot function's calls in flight: no agent carries more than the bound allows", () => {
  for (const agents of [AGENTS.slice(0, 2), AGENTS]) {
    const inflight = new Map<string, number>();
    for (let placed = 0; placed < 64; placed++) {
      const a = pickAgent("hot", agents, inflight)!;
      inflight.set(a, (inflight.get(a) ?? 0) + 1);
    }
    const most = Math.max(...inflight.values());
    assert.ok(most <= Math.ceil((LOAD_FACTOR * 64) / agents.length) + SPARE, `${agents.length} agents: one carried ${most} of 64`);
    assert.ok(most < 64, `${agents.length} agents: the home carried all 64`);
    assert.equal(inflight.get(homeAgent("hot", agents)!), most, "the home carries the most");
  }
});

test("subjects: one agent's direct subject, its wildcard, and the function named in either form", () => {
  assert.equal(agentDirectSubject("orders", "host-1.eu"), "weft.direct.orders.host-1.eu");
  assert.equal(agentDirectWildcard("host-1.eu"), "weft.direct.*.host-1.eu");
  assert.equal(functionOfDirectSubject(agentDirectSubject("orders", "host-1.eu")), "orders");
  assert.equal(functionOfDirectSubject(directSubject("orders")), "orders");
  // The queue group's wildcard has one token fewer than any agent's subject: it never takes a call sent by name.
  assert.equal(DIRECT_WILDCARD.split(".").length, 3);
  for (const ok of ["agent", "host-1.eu", "a_b-c"]) assert.equal(isSubjectTail(ok), true, ok);
  for (const bad of ["", "a..b", "a.", ".a", "a>", "a.*", "a b", "a\tb", "a\u00e9", "a".repeat(129), `a.${"b".repeat(10_000)}`]) assert.equal(isSubjectTail(bad), false, bad.slice(0, 20));
  assert.equal(isSubjectTail("a".repeat(128)), true, "the longest id WEFT_AGENT_ID allows");
});
