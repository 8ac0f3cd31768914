// What the gateway's event checks cost per MiB: the JSON scan (validity and depth, shared/json-scan.ts) for HTTP
// and NATS, the wire-depth walk for gRPC, beside JSON.parse of the same bytes (what the gateway paid before):
// node --import tsx test/bench/event-checks.ts
import { scanJson } from "../../shared/json-scan.js";
import { protoValueDepth } from "../../gateway/proto-value-depth.js";
import { toProtoValue } from "../../gateway/json-value.js";
import { loadWeftProto } from "../../gateway/proto.js";
import { LIMITS } from "../../shared/limits.js";

const MiB = 1024 * 1024;
const invoke = (loadWeftProto()["weft.v1.InvocationService"] as any).Invoke;

function nested(depth: number): unknown {
  let v: unknown = "x";
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const shapes: Record<string, () => unknown> = {
  "one big string": () => ({ pad: "x".repeat(5 * MiB) }),
  "strings full of escapes": () => ({ pad: 'a"b\\c['.repeat(MiB / 2) }),
  "records (objects, short strings, numbers)": () =>
    Array.from({ length: 50_000 }, (_, i) => ({ id: i, name: `user-${i}`, tags: ["a", "b"], score: i * 1.5, ok: true, at: { x: 1, y: [1, 2, 3] } })),
  "numbers": () => Array.from({ length: 700_000 }, (_, i) => i),
  "empty arrays": () => Array.from({ length: 1_500_000 }, () => []),
  [`${LIMITS.jsonDepth} levels, repeated`]: () => Array.from({ length: 1500 }, () => nested(LIMITS.jsonDepth - 1)),
};

function msPer(runs: number, work: () => void): number {
  for (let i = 0; i < 3; i++) work();
  const t = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) work();
  return Number(process.hrtime.bigint() - t) / 1e6 / runs;
}

console.log("| event shape | MiB | scanJson ms/MiB | JSON.parse ms/MiB | protoValueDepth ms/MiB (gRPC) |");
console.log("| --- | --- | --- | --- | --- |");
for (const [what, make] of Object.entries(shapes)) {
  const value = make();
  const json = Buffer.from(JSON.stringify(value));
  const proto = invoke.requestSerialize({ name: "f", event: toProtoValue(value, "event") }) as Buffer;
  const scan = msPer(20, () => scanJson(json, LIMITS.jsonDepth)) / (json.length / MiB);
  const parse = msPer(5, () => JSON.parse(json.toString("utf8"))) / (json.length / MiB);
  const wire = msPer(20, () => protoValueDepth(proto, 2, LIMITS.jsonDepth)) / (proto.length / MiB);
  console.log(`| ${what} | ${(json.length / MiB).toFixed(1)} | ${scan.toFixed(2)} | ${parse.toFixed(2)} | ${wire.toFixed(2)} |`);
}
