// OpenTelemetry: the SDK starts only when an OTLP exporter is configured through the standard OTEL_* variables.
// Trace context rides in NATS headers (W3C traceparent) from gateway to agent to container.
import { context, propagation, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { MsgHdrs } from "@nats-io/transport-node";
import { randomFillSync } from "node:crypto";

export interface Telemetry {
  shutdown(): Promise<void>;
}

/** True when the user asked for traces through the standard variables (off by default). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === "true") return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter === "none") return false;
  return Boolean(exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** `env` must be process.env: the SDK reads its OTEL_* settings from there itself. */
export async function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv): Promise<Telemetry> {
  // The propagator is set even without the SDK so trace ids flow through logs and headers.
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!tracingRequested(env)) return { shutdown: async () => {} };
  env.OTEL_SERVICE_NAME ??= serviceName;
  env.OTEL_TRACES_EXPORTER ??= "otlp";
  env.OTEL_METRICS_EXPORTER ??= "none";
  env.OTEL_LOGS_EXPORTER ??= "none";
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({ serviceName, instrumentations: [] });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

export const tracer = (name: string) => trace.getTracer(`weft-${name}`);

const natsSetter: TextMapSetter<MsgHdrs> = { set: (h, k, v) => h.set(k, v) };
const natsGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? [...h.keys()] : []),
  get: (h, k) => h?.get(k) || undefined,
};

/**
 * Writes the span's context into NATS headers. Without an SDK the span is non-recording and has no
 * valid id, so a fresh W3C traceparent is made: logs still share one trace id across every hop.
 */
export function injectTraceContext(span: Span, hdrs: MsgHdrs): string {
  const sc = span.spanContext();
  if (trace.isSpanContextValid(sc)) {
    propagation.inject(trace.setSpan(context.active(), span), hdrs, natsSetter);
    return sc.traceId;
  }
  const existing = hdrs.get("traceparent");
  if (existing) return existing.split("-")[1] ?? "";
  const traceId = randomHex(16);
  hdrs.set("traceparent", `00-${traceId}-${randomHex(8)}-00`);
  return traceId;
}

/** Trace ids from a pre-filled pool (as randomUUID does): one getrandom call per 256 invocations, not two per call. */
const RANDOM_POOL = Buffer.alloc(24 * 256);
let randomAt = RANDOM_POOL.length;

function randomHex(bytes: number): string {
  if (randomAt + bytes > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const hex = RANDOM_POOL.toString("hex", randomAt, randomAt + bytes);
  randomAt += bytes;
  return hex;
}

export function extractTraceContext(hdrs: MsgHdrs | undefined): { ctx: Context; traceId: string } {
  const ctx = propagation.extract(context.active(), hdrs, natsGetter);
  const fromSpan = trace.getSpanContext(ctx)?.traceId;
  const fromHeader = hdrs?.get("traceparent")?.split("-")[1];
  return { ctx, traceId: fromSpan ?? fromHeader ?? "" };
}
