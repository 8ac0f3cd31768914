// The code a new function starts with, per runtime.
export const RUNTIMES = ["python3", "nodejs"] as const;
export const ISOLATIONS = ["runc", "gvisor"] as const;
export type Runtime = (typeof RUNTIMES)[number];
export type Isolation = (typeof ISOLATIONS)[number];

export const TEMPLATES: Record<Runtime, string> = {
  python3: `def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print("hello from", context.function_name)
    return {"hello": name}
`,
  nodejs: `exports.handler = async (event, context) => {
  const name = (event && event.name) || "world";
  console.log("hello from", context.functionName);
  return { hello: name };
};
`,
};

export const RUNTIME_LABELS: Record<Runtime, string> = { python3: "Python 3", nodejs: "Node.js" };
export const ISOLATION_LABELS: Record<Isolation, string> = { runc: "runc (containers)", gvisor: "gVisor (user-space kernel)" };
