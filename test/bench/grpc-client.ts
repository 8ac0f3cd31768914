// A plain gRPC client of weft.v1.InvocationService, built from the .proto as an outside client would be.
import { credentials, loadPackageDefinition, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { resolve } from "node:path";

const PROTO = resolve(import.meta.dirname, "../../proto/weft/v1/weft.proto");

type ProtoValue =
  | { nullValue: "NULL_VALUE" }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: { fields: Record<string, ProtoValue> } }
  | { listValue: { values: ProtoValue[] } };

/** JSON → google.protobuf.Value, as proto-loader represents it. */
export function toProtoValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { nullValue: "NULL_VALUE" };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toProtoValue) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, toProtoValue(x)])) } };
}

export function loadWeftProto(): any {
  const def = loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return (loadPackageDefinition(def) as any).weft.v1;
}

export interface GrpcInvoker {
  /** Invokes and returns the latency in ms; throws unless the status is ok. */
  invoke(name: string, event: unknown): Promise<number>;
  close(): void;
}

export async function createGrpcInvoker(address: string): Promise<GrpcInvoker> {
  const weft = loadWeftProto();
  const client: Client & Record<string, Function> = new weft.InvocationService(address, credentials.createInsecure());
  await new Promise<void>((res, rej) => client.waitForReady(Date.now() + 10_000, (e?: Error) => (e ? rej(e) : res())));
  return {
    invoke: (name, event) =>
      new Promise((res, rej) => {
        const t0 = performance.now();
        client.Invoke!({ name, event: toProtoValue(event) }, (err: ServiceError | null, out: { status: string }) => {
          const ms = performance.now() - t0;
          if (err) rej(err);
          else if (out.status !== "ok") rej(new Error(`status ${out.status}`));
          else res(ms);
        });
      }),
    close: () => client.close(),
  };
}
