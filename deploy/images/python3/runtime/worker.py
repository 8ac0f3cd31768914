# Weft Python worker: runs the user's code as uid 65534 under weft-runner (the trusted process that holds
# the agent channel). Frames in on fd 3, frames out on fd 4, the user's stray output on fd 1 and 2; see
# deploy/images/PROTOCOL.md. Nothing here is trusted by the runner: it re-checks every frame we write.
# Only C modules and a few small pure ones: every module imported here is memory held by every warm container.
# json (with re and enum), signal (enum) and threading cost 1.4 MiB of each worker; the C modules under them do the
# same work (JSON below; _signal; _thread).
import _signal
import _thread
import importlib
import os
import sys
import time
import types

CTL_FD, RES_FD = 3, 4
MAX_HEADER = 64 * 1024
# Events and outputs nested up to the documented limit (1,000 levels) must parse and serialise.
sys.setrecursionlimit(4000)

for fd in (CTL_FD, RES_FD):
    os.set_inheritable(fd, False)  # subprocesses of the handler get neither channel
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # under memory pressure the kernel picks this process, never the runner
except OSError:
    pass

# ---- JSON: json's own C scanner and encoder (_json), without the json package ------------------------------------
# json.loads and json.dumps use these same C functions; the package around them adds re and enum to every
# container. Whatever the fast path does not take whole (another encoding, a BOM, a malformed document) goes to
# json itself, which gives its own answer or error: the results are json's in every case.
try:
    import _json

    _c_scanner, _c_encoder = _json.make_scanner, _json.make_encoder
    _c_escape, _c_escape_ascii = _json.encode_basestring, _json.encode_basestring_ascii
except (ImportError, AttributeError):  # a Python built without the accelerator
    _c_scanner = _c_encoder = None


class _JsonDecoding:
    """json.JSONDecoder's defaults, as the C scanner reads them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = _c_scanner(_JsonDecoding()) if _c_scanner else None
_JSON_SPACE = " \t\n\r"


def json_loads(data):
    """json.loads(data) for bytes."""
    if _scan is not None:
        try:
            text = data.decode("utf-8", "surrogatepass")
            start = 0
            while start < len(text) and text[start] in _JSON_SPACE:
                start += 1
            value, end = _scan(text, start)
            if end == len(text) or not text[end:].strip(_JSON_SPACE):
                return value
        except RecursionError:
            raise
        except Exception:  # StopIteration (no value), a decode error: json says what is wrong
            pass
    import json

    return json.loads(data)


def _not_serialisable(o):
    raise TypeError("Object of type %s is not JSON serializable" % o.__class__.__name__)


def json_dumps(value, ensure_ascii=True, allow_nan=True):
    """json.dumps(value, separators=(",", ":"), ensure_ascii=..., allow_nan=...)."""
    if _c_encoder is None:
        import json

        return json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=allow_nan)
    # A new encoder per document, as json makes one: its circular-reference markers start empty.
    encode = _c_encoder({}, _not_serialisable, _c_escape_ascii if ensure_ascii else _c_escape, None, ":", ",", False, False, allow_nan)
    return "".join(encode(value, 0))


_write_lock = _thread.allocate_lock()


def write_frame(header, *payload):
    data = json_dumps(header).encode() + b"\n" + b"".join(payload)
    with _write_lock:
        view = memoryview(data)
        while view:
            n = os.write(RES_FD, view)
            view = view[n:]


class LogBuffer:
    """What one invocation printed, cut at the runner-given byte limit."""

    def __init__(self, limit):
        self.parts = []
        self.size = 0
        self.limit = limit
        self.truncated = False

    def add(self, text):
        if self.truncated or not text:
            return
        data = text.encode("utf-8", "replace")
        room = self.limit - self.size
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.parts.append(data)
        self.size += len(data)

    def bytes(self):
        return b"".join(self.parts)


_local = _thread._local()


class Capture:
    """Stands in for sys.stdout / sys.stderr: writes land in the current invocation's log buffer.
    Threads the handler starts itself have no buffer; their output goes to the real stream (stray
    output, which the runner still attributes to the invocation)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fallback):
        self._fallback = fallback

    def write(self, s):
        buf = getattr(_local, "buf", None)
        if buf is None:
            try:
                self._fallback.write(s)
                self._fallback.flush()
            except (OSError, ValueError):
                pass
        else:
            buf.add(s if isinstance(s, str) else str(s))
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        return self._fallback.fileno()

    def readable(self):
        return False

    def writable(self):
        return True


class Context:
    """Lambda-like context object handed to the handler."""

    def __init__(self, ctx):
        self.invocation_id = ctx.get("invocationId", "")
        self.aws_request_id = self.invocation_id
        self.function_name = ctx.get("functionName", "")
        self.function_version = str(ctx.get("version", ""))
        self.memory_limit_in_mb = ctx.get("memoryMb", 0)
        self.trace_id = ctx.get("traceId", "")
        self.attempt = ctx.get("attempt", 1)
        # A subject or stream trigger's message: its subject and headers (name -> value); {} for any other call.
        self.subject = ctx.get("subject")
        self.headers = ctx.get("headers") or {}
        self._deadline = ctx.get("deadline", 0)

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline - time.time() * 1000))


# An error travels in a frame header (at most 64 KiB, MAX_HEADER on every side): its parts are cut to the
# runner's own bounds, then further until its JSON fits, so a long message (or one of control characters, which
# JSON writes six bytes each) is still the handler's error and not a broken frame.
MAX_ERROR_TYPE = 200
MAX_ERROR_MESSAGE = 16 * 1024
MAX_ERROR_STACK = 32 * 1024
MAX_ERROR_JSON = 40 * 1024


def cut_text(text, max_bytes):
    """`text` as valid UTF-8 of at most max_bytes bytes, cut on a character boundary."""
    data = text.encode("utf-8", "replace")
    return data[:max_bytes].decode("utf-8", "ignore")


def fitted_error(kind, message, stack=None):
    err = {"type": cut_text(kind, MAX_ERROR_TYPE), "message": cut_text(message, MAX_ERROR_MESSAGE)}
    if stack is not None:
        err["stack"] = cut_text(stack, MAX_ERROR_STACK)
    while len(json_dumps(err)) > MAX_ERROR_JSON:
        if err.get("stack"):
            err["stack"] = err["stack"][: len(err["stack"]) // 2]
        elif len(err["message"]) > 1:
            err["message"] = err["message"][: len(err["message"]) // 2]
        else:
            break
    return err


def error_of(exc):
    tb = exc.__traceback__
    # The worker's own frames say nothing about the user's bug.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    try:
        message = str(exc)
    except BaseException:  # a hostile __str__
        message = "(the exception could not be printed)"
    try:
        # Imported at the first error, not at start: it is 0.5 MiB of every warm container's memory (its modules).
        import traceback

        stack = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        stack = ""
    return fitted_error(type(exc).__name__, message, stack)


def serialise(result, limit):
    """The output as UTF-8 JSON bytes, or an error dict."""
    try:
        try:
            out = json_dumps(result, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escaped, it is still valid JSON
            out = json_dumps(result, allow_nan=False).encode("utf-8")
    except RecursionError:
        return None, {"type": "OutputTooDeep", "message": "the handler's return value is nested too deeply to serialise"}
    except (TypeError, ValueError) as exc:
        return None, {"type": "OutputNotJson", "message": "the handler's return value is not JSON-serialisable: " + str(exc)}
    except BaseException as exc:  # a hostile __repr__/default hook
        return None, {"type": "OutputNotJson", "message": "serialising the return value failed: " + error_of(exc)["message"]}
    if len(out) > limit:
        return None, {"type": "OutputTooLarge", "message": "the output is %d bytes; the limit is %d" % (len(out), limit)}
    return out, None


_SIGNALS = [s for s in _signal.valid_signals() if s not in (_signal.SIGKILL, _signal.SIGSTOP)]
_baseline_handlers = {}
# Each signal's name as signal.Signals has it: of two names for one number (SIGABRT, SIGIOT), the first in order.
_SIGNAL_NAMES = {}
for _name, _number in sorted(((k, v) for k, v in vars(_signal).items() if k.startswith("SIG") and not k.startswith("SIG_")), key=lambda kv: (kv[1], kv[0])):
    _SIGNAL_NAMES.setdefault(_number, _name)


def signal_name(number):
    return _SIGNAL_NAMES.get(number, str(number))


def record_signal_handlers():
    """After init: the handlers the function's own module installed are its baseline."""
    for s in _SIGNALS:
        try:
            _baseline_handlers[s] = _signal.getsignal(s)
        except (OSError, ValueError):
            pass


def changed_signal_handler():
    for s, h in _baseline_handlers.items():
        try:
            if _signal.getsignal(s) is not h:
                return "the call installed a signal handler (%s)" % signal_name(s)
        except (OSError, ValueError):
            pass
    return ""


_timers_fd = None


def posix_timers_armed():
    """/proc/self/timers lists a timer (timer_create). Its fd stays open between calls: one pread a call, not an
    open, a read and a close. (Like every check here, it guards against code that forgets, not hostile code: that
    runs in this process and can change the worker itself. The runner's own checks are the boundary.)"""
    global _timers_fd
    try:
        if _timers_fd is None:
            _timers_fd = os.open("/proc/self/timers", os.O_RDONLY | os.O_CLOEXEC)
        return bool(os.pread(_timers_fd, 4096, 0).strip())
    except OSError:
        _timers_fd = None
        return False


def leftover_timers(itimers=True):
    """Timers a call armed that would fire later: POSIX timers (timer_create; the worker arms none) and, where
    calls run on a thread pool and cannot be reset between calls, interval timers (setitimer). With `itimers`
    false the interval timers were just reset (one call at a time), and are not read again."""
    if posix_timers_armed():
        return "the call left a POSIX timer armed"
    for which in (_signal.ITIMER_REAL, _signal.ITIMER_VIRTUAL, _signal.ITIMER_PROF) if itimers else ():
        try:
            # The interval too: Linux re-arms a periodic ITIMER_REAL only when a thread takes its SIGALRM, so
            # while that signal waits (its thread not yet scheduled, on a loaded machine) the value reads 0.
            if any(t > 0 for t in _signal.getitimer(which)):
                return "the call left an interval timer armed"
        except (OSError, ValueError):
            pass
    try:
        # A signal that arrived but was not yet taken (its handler runs once the worker runs again: after the
        # answer, in the next call).
        pending = _signal.sigpending()
    except (OSError, ValueError):
        pending = ()
    if pending:
        return "the call left a signal pending (%s)" % ", ".join(sorted(signal_name(s) for s in pending))
    return ""


def reset_signals():
    """A call's alarms and signal handlers must not fire in a later call."""
    try:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.setitimer(_signal.ITIMER_VIRTUAL, 0)
        _signal.setitimer(_signal.ITIMER_PROF, 0)
    except (OSError, ValueError):
        pass


class Worker:
    def __init__(self):
        self.handler = None
        self.log_limit = 262144
        self.output_limit = 6 * 1024 * 1024
        self.executor = None

    def init(self, header, code):
        self.log_limit = int(header.get("logLimit") or self.log_limit)
        self.output_limit = int(header.get("outputLimit") or self.output_limit)
        concurrency = int(header.get("concurrency") or 1)
        os.environ.update({str(k): str(v) for k, v in (header.get("env") or {}).items()})
        if concurrency > 1:
            self.executor = start_executor(concurrency)
        buf = LogBuffer(self.log_limit)
        _local.buf = buf
        try:
            root = os.environ.get("WEFT_TASK_ROOT")
            if root:
                self.handler = load_bundle_handler(root, os.environ.get("WEFT_HANDLER") or "handler.handler", os.environ.get("WEFT_LAYER"))
            else:
                self.handler = load_handler(code.decode("utf-8", "replace"))
            if _is_coroutine_function(self.handler):
                _asyncio()  # now, not in the first call
            frame = {"t": "init_ok"}
            record_signal_handlers()
        except BaseException as exc:  # the user's module may raise anything, SystemExit included
            frame = {"t": "init_error", "error": error_of(exc)}
        finally:
            _local.buf = None
        logs = buf.bytes()
        frame["logBytes"] = len(logs)
        frame["logsTruncated"] = buf.truncated
        write_frame(frame, logs)

    def run(self, header, event):
        if self.executor is None:
            self.run_one(header, event)
        else:
            self.executor.submit(self.run_one, header, event)

    def run_one(self, header, event):
        rid = str(header.get("id"))
        buf = LogBuffer(self.log_limit)
        _local.buf = buf
        try:
            output, error = self.invoke(header, event)
        finally:
            _local.buf = None
            if self.executor is None:
                reset_signals()
        logs = buf.bytes()
        frame = {"t": "result", "id": rid, "ok": error is None, "logBytes": len(logs), "logsTruncated": buf.truncated}
        dirty = leftover_timers(itimers=self.executor is not None) or changed_signal_handler()
        if dirty:
            frame["dirty"] = dirty
        if error is None:
            frame["outputBytes"] = len(output)
            write_frame(frame, output, logs)
        else:
            frame["error"] = error
            write_frame(frame, logs)

    def invoke(self, header, event_bytes):
        if self.handler is None:
            return None, {"type": "Error", "message": "function is not initialised"}
        try:
            event = json_loads(event_bytes) if event_bytes else None
        except (ValueError, RecursionError) as exc:
            return None, {"type": "InvalidEvent", "message": "the event could not be parsed: " + str(exc)[:200]}
        try:
            result = self.handler(event, Context(header.get("ctx") or {}))
            if _is_awaitable(result):
                result = _asyncio().run(_awaited(result))
        except BaseException as exc:  # a handler's sys.exit() is its failure, not the worker's
            return None, error_of(exc)
        return serialise(result, self.output_limit)


def start_executor(n):
    """All of the pool's threads start now, so the runner's thread count after init is the baseline."""
    import threading
    from concurrent.futures import ThreadPoolExecutor  # only for concurrency > 1

    executor = ThreadPoolExecutor(max_workers=n)
    barrier = threading.Barrier(n)
    for f in [executor.submit(barrier.wait) for _ in range(n)]:
        f.result()
    return executor


# inspect's isawaitable and iscoroutinefunction without importing inspect (ast, dis, re, enum: memory in every
# container). CO_COROUTINE and CO_ITERABLE_COROUTINE are the code flags inspect reads.
_CO_COROUTINE, _CO_ITERABLE_COROUTINE = 0x80, 0x100


def _is_awaitable(value):
    if isinstance(value, types.CoroutineType):
        return True
    if isinstance(value, types.GeneratorType):
        return bool(value.gi_code.co_flags & _CO_ITERABLE_COROUTINE)
    return getattr(type(value), "__await__", None) is not None


def _is_coroutine_function(fn):
    """Only decides whether asyncio is imported at init rather than at the first call: it never fails a load."""
    try:
        return bool(getattr(getattr(fn, "__code__", None), "co_flags", 0) & _CO_COROUTINE)
    except Exception:
        return False


def _asyncio():
    """asyncio, imported only when a handler is async: it loads ssl (OpenSSL), about 8 MB of every container's memory."""
    import asyncio

    return asyncio


async def _awaited(awaitable):
    return await awaitable


def load_handler(code):
    module = types.ModuleType("handler")
    module.__file__ = "/tmp/handler.py"
    sys.modules["handler"] = module
    compiled = compile(code, "handler.py", "exec")
    exec(compiled, module.__dict__)
    handler = module.__dict__.get("handler")
    if not callable(handler):
        raise HandlerNotFound("handler.py does not define a function named handler(event, context)")
    return handler


def load_bundle_handler(root, spec, layer):
    """A bundle mounted read-only at root; spec is module.function as Lambda has it (lib/app.handler)."""
    if layer:
        sys.path.insert(0, layer)
    sys.path.insert(0, root)
    module_path, _, name = spec.rpartition(".")
    module = importlib.import_module(module_path.replace("/", "."))
    handler = getattr(module, name, None)
    if not callable(handler):
        raise HandlerNotFound("%s.py does not define a function named %s(event, context)" % (module_path, name))
    return handler


class HandlerNotFound(Exception):
    pass


def read_exact(stream, n):
    data = stream.read(n) if n else b""
    if len(data) != n:
        raise EOFError
    return data


def main():
    sys.stdout = Capture(sys.__stdout__)
    sys.stderr = Capture(sys.__stderr__)
    worker = Worker()
    ctl = os.fdopen(CTL_FD, "rb", buffering=256 * 1024)
    write_frame({"t": "up"})
    while True:
        line = ctl.readline(MAX_HEADER + 1)
        if not line or not line.endswith(b"\n"):
            return  # the runner went away, or broke the protocol: nothing to do but stop
        header = json_loads(line)
        kind = header.get("t")
        try:
            if kind == "run":
                worker.run(header, read_exact(ctl, int(header.get("eventBytes") or 0)))
            elif kind == "init":
                worker.init(header, read_exact(ctl, int(header.get("codeBytes") or 0)))
        except EOFError:
            return


if __name__ == "__main__":
    main()
