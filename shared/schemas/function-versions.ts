// Wire shape of GET /v1/functions/{name}/versions: every version of the live function, newest first, without the code.
import { z } from "zod";
import { FunctionSummary } from "./function.js";

export const FunctionVersions = z.object({
  name: z.string(),
  latestVersion: z.number().int(),
  versions: z.array(FunctionSummary),
});
export type FunctionVersions = z.infer<typeof FunctionVersions>;
