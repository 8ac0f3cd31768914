// The response schemas the OpenAPI document is generated from describe the same shapes as the TypeScript types the
// components use: tsc fails this file if one drifts from the other (a field added to one and not the other).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { z } from "zod";
import { DeleteFunctionResult, PutFunctionResult } from "../../shared/schemas/controller-api.js";
import type { ErrorBodyMatches } from "../../shared/schemas/error.js";
import { FunctionSummary } from "../../shared/schemas/function.js";
import { FunctionMetrics, InvocationAccepted, InvocationRecord } from "../../shared/schemas/invocation.js";

/** true when each type is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const checks: Record<string, true> = {
  InvocationRecord: true satisfies Same<z.infer<typeof InvocationRecord>, InvocationRecord>,
  FunctionMetrics: true satisfies Same<z.infer<typeof FunctionMetrics>, FunctionMetrics>,
  InvocationAccepted: true satisfies Same<z.infer<typeof InvocationAccepted>, InvocationAccepted>,
  FunctionSummary: true satisfies Same<z.infer<typeof FunctionSummary>, FunctionSummary>,
  PutFunctionResult: true satisfies Same<z.infer<typeof PutFunctionResult>, PutFunctionResult>,
  DeleteFunctionResult: true satisfies Same<z.infer<typeof DeleteFunctionResult>, DeleteFunctionResult>,
  ErrorBody: true satisfies ErrorBodyMatches,
};

test("each response schema and its TypeScript type are one shape (checked by tsc)", () => {
  assert.deepEqual(Object.values(checks), Object.keys(checks).map(() => true));
});
