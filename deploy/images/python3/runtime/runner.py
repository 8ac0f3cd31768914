# Weft Python runner: loads one function's code once (init), then runs events (run), speaking
# newline-delimited JSON with the agent. Protocol: agents/runner-protocol.ts.
#
# Frames go to fd 3 (the container's stdout, set up by the image's CMD), each line prefixed with a
# per-container token so nothing the user's code or its subprocesses write (fd 1 and 2 both point at the
# container's stderr) can forge or corrupt a frame.
import asyncio
import inspect
import json
import os
import sys
import threading
import time
import traceback
import types
from concurrent.futures import ThreadPoolExecutor

FRAME_FD = 3
TOKEN = os.environ.pop("WEFT_FRAME_TOKEN", "").encode()
_write_lock = threading.Lock()


def emit_raw(text):
    data = TOKEN + b" " + text.encode("utf-8", "surrogatepass") + b"\n"
    with _write_lock:
        view = memoryview(data)
        while view:
            n = os.write(FRAME_FD, view)
            view = view[n:]


def emit(obj):
    emit_raw(json.dumps(obj, separators=(",", ":")))


def emit_end(rid):
    """Marks the end of a run on stderr, after everything the run (and its subprocesses) wrote there:
    the agent waits for it, so late output is not lost or attributed to the next run."""
    try:
        sys.__stderr__.flush()
    except (OSError, ValueError):
        pass
    data = TOKEN + b' {"t":"end","id":' + rid.encode() + b"}\n"
    try:
        os.write(2, data)
    except OSError:
        pass


class LogBuffer:
    """What one invocation printed, cut at the agent-given byte limit."""

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

    def text(self):
        return b"".join(self.parts).decode("utf-8", "ignore")


_local = threading.local()


class Capture:
    """Stands in for sys.stdout / sys.stderr: writes land in the current invocation's log buffer.
    Threads the handler starts itself have no buffer; their output goes to the real stream (stray
    output, which the agent still attributes to the invocation)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fallback):
        self._fallback = fallback

    def write(self, s):
        buf = getattr(_local, "buf", None)
        if buf is None:
            self._fallback.write(s)
            self._fallback.flush()
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
        self._deadline = ctx.get("deadline", 0)

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline - time.time() * 1000))


def error_of(exc):
    tb = exc.__traceback__
    # The runner's own frames say nothing about the user's bug.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, tb)),
    }


class Runner:
    def __init__(self):
        self.handler = None
        self.log_limit = 262144
        self.executor = None
        self.in_flight = 0
        self.lock = threading.Lock()

    def init(self, msg):
        self.log_limit = int(msg.get("logBytes") or self.log_limit)
        concurrency = int(msg.get("concurrency") or 1)
        if concurrency > 1:
            self.executor = ThreadPoolExecutor(max_workers=concurrency)
        os.environ.update({str(k): str(v) for k, v in (msg.get("env") or {}).items()})
        buf = LogBuffer(self.log_limit)
        _local.buf = buf
        try:
            self.handler = load_handler(msg.get("code", ""))
            frame = {"t": "init_ok"}
        except BaseException as exc:  # the user's module may raise anything, SystemExit included
            frame = {"t": "init_error", "error": error_of(exc)}
        finally:
            _local.buf = None
        frame["logs"] = buf.text()
        frame["logsTruncated"] = buf.truncated
        emit(frame)

    def run(self, msg):
        if self.executor is None:
            self.run_one(msg)
        else:
            with self.lock:
                self.in_flight += 1
            self.executor.submit(self.run_one, msg)

    def run_one(self, msg):
        buf = LogBuffer(self.log_limit)
        _local.buf = buf
        try:
            frame = self.invoke(msg)
        finally:
            _local.buf = None
        emit_end(json.dumps(msg.get("id")))
        emit_raw(frame(buf))
        if self.executor is not None:
            with self.lock:
                self.in_flight -= 1
                idle = self.in_flight == 0
        else:
            idle = True
        if idle:
            kill_strays()

    def invoke(self, msg):
        rid = json.dumps(msg.get("id"))
        if self.handler is None:
            exc = RuntimeError("function is not initialised")
            return lambda buf: failed_frame(rid, error_of(exc), buf)
        try:
            result = self.handler(msg.get("event"), Context(msg.get("ctx") or {}))
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        except BaseException as exc:  # a handler's sys.exit() is its failure, not the runner's
            err = error_of(exc)
            return lambda buf: failed_frame(rid, err, buf)
        try:
            output = json.dumps(result, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            err = {"type": "OutputNotJson", "message": "the handler's return value is not JSON-serialisable: " + str(exc)}
            return lambda buf: failed_frame(rid, err, buf)
        return lambda buf: (
            '{"t":"result","id":' + rid + ',"ok":true,"output":' + output + ',"logs":' + json.dumps(buf.text())
            + ',"logsTruncated":' + ("true" if buf.truncated else "false") + "}"
        )


async def _awaited(awaitable):
    return await awaitable


def failed_frame(rid, err, buf):
    return (
        '{"t":"result","id":' + rid + ',"ok":false,"error":' + json.dumps(err) + ',"logs":' + json.dumps(buf.text())
        + ',"logsTruncated":' + ("true" if buf.truncated else "false") + "}"
    )


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


class HandlerNotFound(Exception):
    pass


def kill_strays():
    """Processes the handler left behind would carry one call's work into the next: end them.
    PID 1 is the init (tini); this process is the runner."""
    me = os.getpid()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return
    strays = [pid for pid in pids if pid not in (1, me)]
    for pid in strays:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    # Our own children stay zombies (and hold a pid) until we reap them; others are reaped by the init.
    for pid in strays:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass


def main():
    sys.stdout = Capture(sys.__stdout__)
    sys.stderr = Capture(sys.__stderr__)
    runner = Runner()
    emit({"t": "ready", "runtime": "python3", "pid": os.getpid()})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError as exc:
            sys.__stderr__.write("weft runner: bad frame: %s\n" % exc)
            continue
        kind = msg.get("t")
        if kind == "run":
            runner.run(msg)
        elif kind == "init":
            runner.init(msg)


if __name__ == "__main__":
    main()
