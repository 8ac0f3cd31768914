// Escapes: the sandbox itself, probed from inside by code that knows it runs under runc or gVisor with
// Weft's settings: network, host paths and sockets, other functions' secrets, seccomp, io_uring, user
// namespaces, device nodes, dangerous syscalls, privilege, host processes. Issue 6 item 6.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import { BATCH, ISOLATIONS, RUNTIMES, hostileSuite, type Hostile, type Isolation, type Runtime } from "./suite.js";

const suite = hostileSuite();

type Where = { runtime: Runtime; isolation: Isolation };

/** Deploys a probe, runs it once with `event`, returns its output (the call must end ok). */
async function probe<T>(h: Hostile, where: Where, label: string, code: { py?: string; js?: string }, event: unknown = {}, env?: Record<string, string>): Promise<T> {
  const name = h.name(label);
  const source = where.runtime === "python3" ? pyHandler(code.py!, SYSCALL_TABLE) : jsHandler(code.js!);
  await h.deploy(name, { ...where, code: source, limits: { timeoutMs: 20_000 }, ...(env ? { env } : {}) });
  try {
    const r = await h.settled(await h.invoke(name, event), ["ok"], `the ${label} probe`);
    return r.output as T;
  } finally {
    await h.request("DELETE", `/v1/functions/${name}`);
  }
}

/** Entries of a result map whose value says the attempt worked. */
const succeeded = (results: Record<string, string>, words = ["ok", "connected", "sent", "read", "written", "listed"]) =>
  Object.entries(results).filter(([, v]) => words.includes(v));

/** x86_64 and aarch64 numbers of syscalls Docker's default profile refuses, plus io_uring (issue 6). */
const SYSCALL_TABLE = String.raw`
import platform
ARCH = platform.machine()
NR = {
    "x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 321, "perf_event_open": 298,
               "keyctl": 250, "add_key": 248, "request_key": 249, "userfaultfd": 323, "kexec_load": 246, "init_module": 175,
               "finit_module": 313, "delete_module": 176, "mount": 165, "umount2": 166, "pivot_root": 155, "swapon": 167,
               "reboot": 169, "setns": 308, "open_by_handle_at": 304, "acct": 163, "settimeofday": 164, "clock_settime": 227,
               "syslog": 103, "quotactl": 179, "unshare": 272},
    "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 280, "perf_event_open": 241,
                "keyctl": 219, "add_key": 217, "request_key": 218, "userfaultfd": 282, "kexec_load": 104, "init_module": 105,
                "finit_module": 273, "delete_module": 106, "mount": 40, "umount2": 39, "pivot_root": 41, "swapon": 224,
                "reboot": 142, "setns": 268, "open_by_handle_at": 265, "acct": 89, "settimeofday": 170, "clock_settime": 112,
                "syslog": 116, "quotactl": 60, "unshare": 97},
}[ARCH]


def sys_call(name, *args):
    """The raw syscall: "ok" if it returned >= 0 (and closes an fd it returned), else the errno's name."""
    fn = LIBC.syscall
    fn.restype = ctypes.c_long
    r = fn(ctypes.c_long(NR[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if r >= 0:
        if name in ("io_uring_setup", "bpf", "perf_event_open", "userfaultfd") and r > 2:
            os.close(r)
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
`;

describe("escapes", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      const where = { runtime, isolation };

      suite.case("connects out: the internet, the Docker bridge, NATS and the gateway on the host, loopback, IPv6, DNS, raw sockets", where, async (h) => {
        const nats = h.fabric.nats.port;
        const http = Number(new URL(h.fabric.httpUrl).port);
        const targets = [["1.1.1.1", 53], ["8.8.8.8", 443], ["172.17.0.1", nats], ["172.17.0.1", http], ["127.0.0.1", nats], ["127.0.0.1", http], ["::1", nats]];
        const out = await probe<{ results: Record<string, string>; interfaces: string[] }>(h, where, "net", {
          py: `import socket
results = {}
for host, port in event["targets"]:
    try:
        socket.create_connection((host, port), timeout=1).close()
        results["%s:%d" % (host, port)] = "connected"
    except OSError as e:
        results["%s:%d" % (host, port)] = err_name(e)
try:
    socket.getaddrinfo("example.com", 80)
    results["dns"] = "connected"
except OSError as e:
    results["dns"] = err_name(e)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))
    results["udp"] = "sent"
except OSError as e:
    results["udp"] = err_name(e)
for fam, kind in (("packet", (17, socket.SOCK_RAW)), ("raw", (socket.AF_INET, socket.SOCK_RAW))):
    try:
        socket.socket(*kind).close()
        results[fam] = "ok"
    except OSError as e:
        results[fam] = err_name(e)
return {"results": results, "interfaces": sorted(n for _, n in socket.if_nameindex())}`,
          js: `const net = require("net"), dgram = require("dgram"), dns = require("dns");
const results = {};
const attempt = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 1000 });
  s.once("connect", () => { s.destroy(); resolve("connected"); });
  s.once("timeout", () => { s.destroy(); resolve("ETIMEDOUT"); });
  s.once("error", (e) => resolve(errName(e)));
});
for (const [host, port] of event.targets) results[host + ":" + port] = await attempt(host, port);
results.dns = await dns.promises.lookup("example.com").then(() => "connected", errName);
results.udp = await new Promise((resolve) => { const s = dgram.createSocket("udp4"); s.send("x", 53, "8.8.8.8", (e) => { s.close(); resolve(e ? errName(e) : "sent"); }); });
return { results, interfaces: Object.keys(os.networkInterfaces()).sort() };`,
        }, { targets });
        assert.deepEqual(succeeded(out.results), [], `reached the network: ${JSON.stringify(out.results)}`);
        assert.deepEqual(out.interfaces, ["lo"]);
      });

      suite.case("writes outside /tmp: /, /etc, /opt/weft, /proc/sys, /proc/sysrq-trigger, cgroup release_agent, uevent_helper", where, async (h) => {
        const paths = ["/x", "/etc/passwd", "/opt/weft/x", "/usr/bin/x", "/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger",
          "/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/memory/release_agent", "/sys/fs/cgroup/cgroup.procs", "/sys/kernel/uevent_helper", "/proc/1/attr/current"];
        const out = await probe<Record<string, string>>(h, where, "fs-write", {
          py: `results = {}
for path in event["paths"]:
    try:
        with open(path, "a") as f:
            f.write("x")
        results[path] = "written"
    except OSError as e:
        results[path] = err_name(e)
return results`,
          js: `const results = {};
for (const path of event.paths) { try { fs.appendFileSync(path, "x"); results[path] = "written"; } catch (e) { results[path] = errName(e); } }
return results;`,
        }, { paths });
        assert.deepEqual(succeeded(out), [], JSON.stringify(out));
      });

      suite.case("reads /proc/self/status and its parent's: user code is uid 65534 under seccomp with no capabilities, its runner uid 0 with only SETUID, SETGID and KILL", where, async (h) => {
        const keys = ["Seccomp", "NoNewPrivs", "CapEff", "CapPrm", "CapAmb", "Uid"];
        const out = await probe<{ self: Record<string, string>; parent: Record<string, string> }>(h, where, "status", {
          py: `keys = ${JSON.stringify(keys)}
pick = lambda st: {k: v for k, v in st.items() if k in keys}
return {"self": pick(status_of("self")), "parent": pick(status_of(os.getppid()))}`,
          js: `const keys = ${JSON.stringify(keys)};
const pick = (st) => Object.fromEntries(keys.map((k) => [k, st[k]]));
return { self: pick(statusOf("self")), parent: pick(statusOf(process.ppid)) };`,
        });
        const { self, parent } = out;
        assert.equal(self.Seccomp, "2", `user code runs without a seccomp filter: ${JSON.stringify(self)}`);
        assert.equal(self.NoNewPrivs, "1", JSON.stringify(self));
        for (const k of ["CapEff", "CapPrm", "CapAmb"]) assert.match(self[k] ?? "", /^0+$/, `${k}: ${JSON.stringify(self)}`);
        assert.equal(self.Uid?.split(/\s+/)[0], "65534", `user code's uid: ${JSON.stringify(self)}`);
        // The trusted runner: another uid (so user code cannot read or signal it), capabilities cut to what it
        // needs to start user code and end it: CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7).
        assert.equal(parent.Uid?.split(/\s+/)[0], "0", `the handler's parent (the runner) runs as: ${JSON.stringify(parent)}`);
        assert.equal(BigInt(`0x${parent.CapEff ?? "0"}`), 0xe0n, `the runner's capabilities: ${JSON.stringify(parent)}`);
      });

      suite.case("looks for host processes (dockerd, containerd, the agent, nats-server, ferretdb) in /proc", where, async (h) => {
        const out = await probe<{ names: string[] }>(h, where, "host-procs", {
          py: 'return {"names": sorted(set(status_of(p).get("Name", "") for p in pids()))}',
          js: 'return { names: [...new Set(pids().map((p) => statusOf(p).Name || ""))].sort() };',
        });
        const host = out.names.filter((n) => /dockerd|containerd|nats-server|ferretdb|systemd|sshd|runsc|tsx|chromium/.test(n));
        assert.deepEqual(host, [], `host processes visible: ${out.names.join(", ")}`);
        assert.ok(out.names.length < 10, `${out.names.length} process names visible: ${out.names.join(", ")}`);
      });
    }

    const py = { isolation, runtime: "python3" as const };

    suite.case("reaches for the Docker and containerd sockets (known paths, a filesystem search, abstract sockets in /proc/net/unix)", py, async (h) => {
      const out = await probe<{ results: Record<string, string>; found: string[]; unix: string[] }>(h, py, "sockets", {
        py: `import socket, stat
results, found = {}, []
for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/run/containerd/containerd.sock.ttrpc", "/var/run/docker/metrics.sock", "/run/weft", "/var/run/weft.sock"):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(path)
        results[path] = "connected"
    except OSError as e:
        results[path] = err_name(e)
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys")):
        dirs[:] = []
        continue
    for f in files:
        p = os.path.join(root, f)
        try:
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                found.append(p)
        except OSError:
            pass
try:
    unix = [l.split()[-1] for l in open("/proc/net/unix").read().splitlines()[1:] if len(l.split()) > 7]
except OSError:
    unix = []
return {"results": results, "found": found, "unix": unix}`,
      });
      assert.deepEqual(succeeded(out.results), [], JSON.stringify(out.results));
      assert.deepEqual(out.found, [], "sockets on the container's filesystem");
      assert.deepEqual(out.unix.filter((u) => /docker|containerd|shim|runsc|weft/.test(u)), [], `sockets in /proc/net/unix: ${out.unix.join(", ")}`);
    });

    suite.case("searches /proc/*/environ, cmdline, /tmp, /dev/shm and its memory for another function's secret", py, async (h) => {
      const secret = `SECRET-${randomBytes(8).toString("hex")}`;
      const victim = h.name("victim");
      await h.deploy(victim, { runtime: "python3", isolation, env: { API_KEY: secret }, code: pyHandler(`with open("/tmp/key", "w") as f:\n    f.write(os.environ["API_KEY"])\nreturn {"genuine": True}`) });
      try {
        await h.settled(await h.invoke(victim, {}), ["ok"], "the victim");
        const out = await probe<{ hits: string[] }>(h, py, "snoop", {
          py: `needle = event["needle"].encode()
hits = []
for p in ["self"] + [str(x) for x in pids()]:
    for leaf in ("environ", "cmdline"):
        try:
            if needle in open("/proc/%s/%s" % (p, leaf), "rb").read():
                hits.append("/proc/%s/%s" % (p, leaf))
        except OSError:
            pass
for top in ("/tmp", "/dev/shm", "/run", "/var/tmp"):
    for root, _, files in os.walk(top):
        for f in files:
            try:
                if needle in open(os.path.join(root, f), "rb").read():
                    hits.append(os.path.join(root, f))
            except OSError:
                pass
if any(needle == t for t in memory_tokens(limit=10 ** 6)) or needle.decode() in os.environ.values():
    hits.append("memory or environment")
return {"hits": hits}`,
        }, { needle: secret });
        assert.deepEqual(out.hits, [], "another function's secret is visible");
      } finally {
        await h.request("DELETE", `/v1/functions/${victim}`);
      }
    });

    suite.case("a new version looks for the previous version's env and /tmp", py, async (h) => {
      const secret = `V1-${randomBytes(8).toString("hex")}`;
      const name = h.name("versions");
      await h.deploy(name, { runtime: "python3", isolation, env: { TOKEN_V1: secret }, code: pyHandler(`with open("/tmp/v1", "w") as f:\n    f.write(os.environ["TOKEN_V1"])\nreturn {"genuine": True}`) });
      try {
        await h.settled(await h.invoke(name, {}), ["ok"], "version 1");
        await h.deploy(name, { runtime: "python3", isolation, code: pyHandler(`needle = event["needle"]
seen = [k for k, v in os.environ.items() if needle in v]
try:
    seen.append("/tmp/v1: " + open("/tmp/v1").read())
except OSError:
    pass
for p in pids():
    try:
        if needle.encode() in open("/proc/%d/environ" % p, "rb").read():
            seen.append("/proc/%d/environ" % p)
    except OSError:
        pass
return {"seen": seen}`) });
        const r = await h.settled(await h.invoke(name, { needle: secret }), ["ok"], "version 2");
        assert.deepEqual((r.output as { seen: string[] }).seen, [], "version 2 sees version 1's secret");
      } finally {
        await h.request("DELETE", `/v1/functions/${name}`);
      }
    });

    suite.case("calls io_uring_setup, io_uring_enter and io_uring_register", py, async (h) => {
      const out = await probe<Record<string, string>>(h, py, "io-uring", {
        py: `params = ctypes.create_string_buffer(120)
return {"io_uring_setup": sys_call("io_uring_setup", 8, params), "io_uring_enter": sys_call("io_uring_enter", 0, 0, 0, 0, 0, 0),
        "io_uring_register": sys_call("io_uring_register", 0, 0, 0, 0)}`,
      });
      for (const [call, result] of Object.entries(out)) assert.ok(["EPERM", "ENOSYS"].includes(result), `${call} reached the kernel: ${result} (${JSON.stringify(out)})`);
    });

    suite.case("unshares a user namespace (and mount, net, pid namespaces through it), setns into init's namespaces", py, async (h) => {
      const out = await probe<Record<string, string>>(h, py, "unshare", {
        py: `results = {}
for label, flags in (("user", 0x10000000), ("user+mount", 0x10000000 | 0x00020000), ("user+net", 0x10000000 | 0x40000000), ("user+pid", 0x10000000 | 0x20000000)):
    pid = os.fork()
    if pid == 0:
        os._exit(0 if LIBC.unshare(flags) == 0 else 100 + ctypes.get_errno())
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    results[label] = "ok" if code == 0 else errno.errorcode.get(code - 100, str(code))
for ns in ("user", "mnt", "net", "pid"):
    try:
        fd = os.open("/proc/1/ns/" + ns, os.O_RDONLY)
    except OSError as e:
        results["setns " + ns] = err_name(e)
        continue
    pid = os.fork()
    if pid == 0:
        os._exit(0 if LIBC.setns(fd, 0) == 0 else 100 + ctypes.get_errno())
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os.close(fd)
    results["setns " + ns] = "ok" if code == 0 else errno.errorcode.get(code - 100, str(code))
return results`,
      });
      assert.deepEqual(succeeded(out), [], JSON.stringify(out));
    });

    suite.case("mknods a character device, a block device and a FIFO in /tmp, and opens the device", py, async (h) => {
      const out = await probe<Record<string, string>>(h, py, "mknod", {
        py: `import stat
results = {}
for label, mode, dev in (("char 1:3", stat.S_IFCHR | 0o666, os.makedev(1, 3)), ("block 8:0", stat.S_IFBLK | 0o666, os.makedev(8, 0)), ("char 1:1 mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))):
    path = "/tmp/dev-" + label.replace(" ", "-").replace(":", "-")
    try:
        os.mknod(path, mode, dev)
        results[label] = "ok"
        try:
            os.close(os.open(path, os.O_RDONLY))
            results[label + " open"] = "ok"
        except OSError as e:
            results[label + " open"] = err_name(e)
    except OSError as e:
        results[label] = err_name(e)
return results`,
      });
      assert.deepEqual(succeeded(out), [], JSON.stringify(out));
    });

    suite.case("makes syscalls Docker's default profile refuses (bpf, perf_event_open, keyctl, add_key, userfaultfd, kexec_load, modules, mount, pivot_root, swapon, reboot, setns, open_by_handle_at, clocks, syslog)", py, async (h) => {
      const out = await probe<Record<string, string>>(h, py, "syscalls", {
        py: `buf = ctypes.create_string_buffer(256)
attr = ctypes.create_string_buffer(128)
ctypes.memmove(attr, (1).to_bytes(4, "little") + (4).to_bytes(4, "little") + (4).to_bytes(4, "little") + (1).to_bytes(4, "little"), 16)
perf = ctypes.create_string_buffer(128)
ctypes.memmove(perf, (1).to_bytes(4, "little") + (128).to_bytes(4, "little"), 8)
ts = ctypes.create_string_buffer(16)
return {
    "bpf map create": sys_call("bpf", 0, attr, 128),
    "perf_event_open": sys_call("perf_event_open", perf, 0, -1, -1, 0),
    "keyctl get session": sys_call("keyctl", 0, -3, 0),
    "add_key": sys_call("add_key", ctypes.c_char_p(b"user"), ctypes.c_char_p(b"k"), ctypes.c_char_p(b"v"), 1, -3),
    "request_key": sys_call("request_key", ctypes.c_char_p(b"user"), ctypes.c_char_p(b"k"), 0, -3),
    "userfaultfd": sys_call("userfaultfd", 0),
    "kexec_load": sys_call("kexec_load", 0, 0, 0, 0),
    "init_module": sys_call("init_module", buf, 0, ctypes.c_char_p(b"")),
    "finit_module": sys_call("finit_module", 0, ctypes.c_char_p(b""), 0),
    "delete_module": sys_call("delete_module", ctypes.c_char_p(b"x"), 0),
    "mount tmpfs": sys_call("mount", ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"tmpfs"), 0, 0),
    "umount2": sys_call("umount2", ctypes.c_char_p(b"/tmp"), 2),
    "pivot_root": sys_call("pivot_root", ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"/tmp")),
    "swapon": sys_call("swapon", ctypes.c_char_p(b"/tmp/swap"), 0),
    "reboot": sys_call("reboot", 0xfee1dead, 672274793, 0x4321fedc, 0),
    "setns": sys_call("setns", 0, 0),
    "open_by_handle_at": sys_call("open_by_handle_at", 0, buf, 0),
    "acct": sys_call("acct", 0),
    "settimeofday": sys_call("settimeofday", ts, 0),
    "clock_settime": sys_call("clock_settime", 0, ts),
    "syslog read": sys_call("syslog", 3, buf, 256),
    "quotactl": sys_call("quotactl", 0, 0, 0, 0),
}`,
      });
      const reached = Object.entries(out).filter(([, v]) => !["EPERM", "ENOSYS", "EACCES"].includes(v));
      assert.deepEqual(reached, [], `syscalls that reached the kernel (not refused with EPERM/ENOSYS/EACCES): ${JSON.stringify(out)}`);
    });

    suite.case("tries to become root: setuid(0), setgid(0), setgroups, capset, a setuid copy of python in /tmp", py, async (h) => {
      const out = await probe<Record<string, string>>(h, py, "setuid", {
        py: `import shutil, subprocess
results = {}
for label, fn in (("setuid 0", lambda: os.setuid(0)), ("setgid 0", lambda: os.setgid(0)), ("setgroups", lambda: os.setgroups([0])),
                  ("setresuid 0", lambda: os.setresuid(0, 0, 0))):
    try:
        fn()
        results[label] = "ok"
    except OSError as e:
        results[label] = err_name(e)
header = ctypes.create_string_buffer((0x20080522).to_bytes(4, "little") + (0).to_bytes(4, "little"), 8)
data = ctypes.create_string_buffer(b"\\xff" * 24, 24)
results["capset all"] = "ok" if LIBC.capset(header, data) == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
try:
    shutil.copy(sys.executable, "/tmp/py")
    os.chmod("/tmp/py", 0o4755)
    out = subprocess.run(["/tmp/py", "-c", "import os; print(os.geteuid())"], capture_output=True, text=True).stdout.strip()
    results["setuid copy euid"] = "ok" if out == "0" else "euid " + out
except OSError as e:
    results["setuid copy euid"] = err_name(e)
results["uid now"] = str(os.getuid())
return results`,
      });
      assert.deepEqual(succeeded(out), [], JSON.stringify(out));
      assert.equal(out["uid now"], "65534");
    });

    suite.case("reads every other process: environ, mem, maps, fd, root, cwd, exe, ptrace attach, process_vm_readv", py, async (h) => {
      const out = await probe<{ targets: number[]; results: Record<string, Record<string, string>> }>(h, py, "read-others", {
        py: `class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
results, targets = {}, others()
for pid in targets:
    r = results.setdefault(str(pid), {})
    for leaf in ("environ", "mem", "maps", "auxv", "stack", "syscall", "fd", "root", "cwd", "exe"):
        path = "/proc/%d/%s" % (pid, leaf)
        try:
            if leaf in ("fd", "root", "cwd"):
                os.listdir(path)
            elif leaf == "mem":
                # Opening it is the access check; what a read at offset 0 returns says nothing more.
                os.close(os.open(path, os.O_RDONLY))
            elif leaf == "exe":
                os.readlink(path)
            else:
                with open(path, "rb", 0) as f:
                    f.read(64)
            r[leaf] = "read"
        except OSError as e:
            r[leaf] = err_name(e)
    if LIBC.ptrace(16, pid, 0, 0) == 0:
        os.waitpid(pid, 0x40000000)
        LIBC.ptrace(17, pid, 0, 0)
        r["ptrace attach"] = "ok"
    else:
        r["ptrace attach"] = errno.errorcode.get(ctypes.get_errno(), "?")
    local = ctypes.create_string_buffer(64)
    liov, riov = IoVec(ctypes.cast(local, ctypes.c_void_p), 64), IoVec(0x400000, 64)
    n = LIBC.process_vm_readv(pid, ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0)
    e = ctypes.get_errno()
    # EFAULT means the permission check passed and only the address was wrong.
    r["process_vm_readv"] = "ok" if n >= 0 or e == errno.EFAULT else errno.errorcode.get(e, "?")
return {"targets": targets, "results": results}`,
      });
      assert.ok(out.targets.length > 0, "no other process visible: nothing was tested");
      const reached = Object.entries(out.results).flatMap(([pid, r]) => succeeded(r).map(([what]) => `${pid} ${what}`));
      assert.deepEqual(reached, [], `user code reached processes it did not start: ${JSON.stringify(out.results)}`);
    });
  }
});

suite.finally();
