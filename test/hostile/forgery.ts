// Forging handlers, shared by the frames and lifecycle cases: where a handler looks for frame tokens, which
// routes it writes forged lines down, and which frames it forges (valid-looking, malformed, error null).
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import type { Runtime } from "./suite.js";

/** Where a forging handler looks for tokens and which routes it writes down. */
export interface Forgery {
  tokens: "environ" | "memory" | "everywhere";
  routes: "fds 1-3" | "everywhere";
  /** Frames as a function of the run ids to target (Python and JS expressions yielding a list of strings). */
  frames: { py: string; js: string };
}

export const FORGED_OK = { py: "forged_frames(run_ids(context))", js: "forgedFrames(runIds(context))" };

/** Logs that are an object whose toString and valueOf are not callable: `"" + logs` throws in the agent. */
export const MALFORMED = {
  py: String.raw`[f for rid in run_ids(context) for f in (
        '{"t":"end","id":%s}' % json.dumps(rid),
        '{"t":"result","id":%s,"ok":true,"output":1,"logs":{"toString":0,"valueOf":0},"logsTruncated":false}' % json.dumps(rid),
        '{"t":"result","id":%s,"ok":false,"error":{"type":{"toString":0},"message":{"valueOf":0}},"logs":7}' % json.dumps(rid),
        '{"t":"result","id":%s,"ok":true,"logs":["x"],"logsTruncated":"yes"}' % json.dumps(rid),
        '{"t":"end","id":7}', '{"t":"init_ok","logs":{"toString":0}}', '{"t":"ready","pid":{"x":1}}')]`,
  js: String.raw`runIds(context).flatMap((id) => [
        '{"t":"end","id":' + JSON.stringify(id) + '}',
        '{"t":"result","id":' + JSON.stringify(id) + ',"ok":true,"output":1,"logs":{"toString":0,"valueOf":0},"logsTruncated":false}',
        '{"t":"result","id":' + JSON.stringify(id) + ',"ok":false,"error":{"type":{"toString":0},"message":{"valueOf":0}},"logs":7}',
        '{"t":"result","id":' + JSON.stringify(id) + ',"ok":true,"logs":["x"],"logsTruncated":"yes"}',
        '{"t":"end","id":7}', '{"t":"init_ok","logs":{"toString":0}}', '{"t":"ready","pid":{"x":1}}'])`,
};

export const ERROR_NULL = {
  py: String.raw`[f for rid in run_ids(context) for f in ('{"t":"end","id":%s}' % json.dumps(rid), '{"t":"result","id":%s,"ok":false,"error":null,"logs":""}' % json.dumps(rid))]`,
  js: String.raw`runIds(context).flatMap((id) => ['{"t":"end","id":' + JSON.stringify(id) + '}', '{"t":"result","id":' + JSON.stringify(id) + ',"ok":false,"error":null,"logs":""}'])`,
};

export function forger(runtime: Runtime, f: Forgery, after = ""): string {
  if (runtime === "python3") {
    const tokens = { environ: "env_tokens()", memory: "memory_tokens()", everywhere: "env_tokens() + memory_tokens()" }[f.tokens];
    const routes = f.routes === "fds 1-3" ? "fds=[1, 2, 3], paths=[]" : "";
    return pyHandler(`if event and event.get("probe"):
    return {"genuine": True}
tokens = unique(${tokens})
report = spray(frame_lines(${f.frames.py}, tokens), ${routes})
${after}
return {"genuine": True, "tokens": len(tokens), "written": len([v for v in report.values() if v == "written"])}`);
  }
  const tokens = { environ: "envTokens()", memory: "memoryTokens()", everywhere: "[...envTokens(), ...memoryTokens()]" }[f.tokens];
  const routes = f.routes === "fds 1-3" ? ", [1, 2, 3], []" : "";
  return jsHandler(`if (event && event.probe) return { genuine: true };
const tokens = unique(${tokens});
const report = spray(frameLines(${f.frames.js}, tokens)${routes});
${after}
return { genuine: true, tokens: tokens.length, written: Object.values(report).filter((v) => v === "written").length };`);
}

/**
 * The worker protocol spoken by the handler on its own result pipe (fd 4): "ID" stands for each run id the
 * handler tries. Each must end the call as the handler meant or as a protocol error, never as the frame says.
 */
export const resultPipeFrames = (runtime: string): Record<string, string> => ({
  "unknown id": '{"t":"result","id":"999","ok":true,"outputBytes":2,"logBytes":0}\n{}',
  "huge output": '{"t":"result","id":"ID","ok":true,"outputBytes":99999999,"logBytes":0}\n',
  "huge header": `{"t":"result","pad":"${"x".repeat(100 * 1024)}"}\n`,
  "runner frame": `{"t":"ready","runtime":"${runtime}","protocol":2}\n{"t":"fault","id":"ID","reason":"x"}\n`,
  // A refusal would hand the call to another container (a retry the function could ask for at will).
  "runner refusal": '{"t":"refused","id":"ID","reason":"x"}\n{"t":"retired","reason":"x"}\n',
  "error null": '{"t":"result","id":"ID","ok":false,"error":null,"logBytes":0}\n',
});
