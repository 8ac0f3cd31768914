// GET /v1/functions/{name}/versions/{v}/build: a version's build state and its log.
import { z } from "zod";
import { Build, FunctionName } from "./function.js";

export const BuildLogRequest = z.object({ name: FunctionName, version: z.number().int().min(1) });

export const BuildReport = z.object({
  name: FunctionName,
  version: z.number().int().min(1),
  build: Build,
  /** The build's output (pip, npm), up to its last 256 KiB. */
  log: z.string(),
});
export type BuildReport = z.infer<typeof BuildReport>;
