package main

// Ad-hoc code execution (PROTOCOL.md "Ad-hoc execution"). exec_prepare pre-starts the runtime's interpreter as
// uid 65534 in /tmp, blocked reading the program from a pipe (fd 3), beside the idle worker; exec ends the worker,
// writes the program to that pipe and stdin to the interpreter's, captures stdout and stderr apart (each cut at
// the log limit), and answers exec_result once the program has exited. Everything it started is then killed: a
// container that ran ad-hoc code serves nothing else. An init instead ends the pre-started interpreter.

import (
	"os"
	"sync"
	"syscall"
)

// The interpreter reads the program from fd 3 to its end, then runs it as the main program named programFile().
const pythonBoot = `import os, sys
with os.fdopen(3, "rb") as f:
    src = f.read()
sys.argv = ["/tmp/main.py"]
del f
exec(compile(src, "/tmp/main.py", "exec"), {"__name__": "__main__", "__file__": "/tmp/main.py", "__builtins__": __builtins__})
`

const nodeBoot = `const fs = require("fs"); const Module = require("module");
const src = fs.readFileSync(3, "utf8"); fs.closeSync(3);
const m = new Module("/tmp/main.js", null); m.filename = "/tmp/main.js"; m.paths = Module._nodeModulePaths("/tmp");
process.argv[1] = "/tmp/main.js"; process.mainModule = m; require.main = m;
m._compile(src, "/tmp/main.js");`

func programFile() string {
	if os.Getenv("WEFT_RUNTIME") == "nodejs" {
		return "/tmp/main.js"
	}
	return "/tmp/main.py"
}

func bootArgs(interpreter string) []string {
	if os.Getenv("WEFT_RUNTIME") == "nodejs" {
		return []string{interpreter, "-e", nodeBoot}
	}
	return []string{interpreter, "-c", pythonBoot}
}

// program is a pre-started interpreter waiting for its code.
type program struct {
	pid            int
	code, stdin    *os.File // write ends
	stdout, stderr *os.File // read ends
}

func spawnProgram(interpreter string) (*program, error) {
	var in, out, errp, code [2]int
	for _, p := range []*[2]int{&in, &out, &errp, &code} {
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, err
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   "/tmp",
		Env:   workerEnv(),
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), uintptr(errp[1]), uintptr(code[0])},
		Sys:   userProcessAttr(),
	}
	pid, err := syscall.ForkExec(interpreter, bootArgs(interpreter), attr)
	for _, fd := range []int{in[0], out[1], errp[1], code[0]} {
		syscall.Close(fd)
	}
	if err != nil {
		for _, fd := range []int{in[1], out[0], errp[0], code[1]} {
			syscall.Close(fd)
		}
		return nil, err
	}
	return &program{pid: pid, code: os.NewFile(uintptr(code[1]), "code"), stdin: os.NewFile(uintptr(in[1]), "stdin"),
		stdout: os.NewFile(uintptr(out[0]), "stdout"), stderr: os.NewFile(uintptr(errp[0]), "stderr")}, nil
}

// discard ends a pre-started interpreter that will not run anything (an init came instead).
func (p *program) discard() {
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	waitExit(p.pid)
	for _, f := range []*os.File{p.code, p.stdin, p.stdout, p.stderr} {
		_ = f.Close()
	}
}

func (r *runner) prepareExec() {
	if r.prepared != nil || r.initDone || r.initFrame != nil || r.retire != "" {
		return
	}
	p, err := spawnProgram(r.workerPath)
	if err != nil {
		fatal("pre-starting the interpreter: %v", err)
	}
	r.prepared = p
}

func (r *runner) startExec(f *frame) {
	if r.retire != "" || r.initDone || r.initFrame != nil {
		r.sendFinal(map[string]any{"t": "exec_error", "message": "the container cannot run a program now"})
		r.noteRetire("exec sent at the wrong time")
		return
	}
	r.noteRetire("the container ran ad-hoc code")
	if f.h.LogLimit > 0 {
		r.logLimit = f.h.LogLimit
	}
	r.endWorkerOnly()
	p := r.prepared
	r.prepared = nil
	if p == nil {
		var err error
		if p, err = spawnProgram(r.workerPath); err != nil {
			r.sendFinal(map[string]any{"t": "exec_error", "message": truncate("starting the program failed: "+err.Error(), 400)})
			return
		}
	}
	code, stdin := f.payload[:f.h.CodeBytes], f.payload[f.h.CodeBytes:]
	// For tracebacks, and so the program cannot write a file of that name: uid 0 owns it, mode 0444.
	_ = os.Remove(programFile())
	_ = os.WriteFile(programFile(), code, 0o444)
	res := runProgram(p, code, stdin, r.logLimit)
	h := map[string]any{"t": "exec_result", "stdoutBytes": len(res.stdout.data), "stderrBytes": len(res.stderr.data),
		"stdoutTruncated": res.stdout.truncated, "stderrTruncated": res.stderr.truncated}
	if res.exit.Code != nil {
		h["exitCode"] = *res.exit.Code
	}
	if res.exit.Signal != "" {
		h["signal"] = res.exit.Signal
	}
	if res.exit.OOM {
		h["oom"] = true
	}
	r.sendFinal(h, res.stdout.data, res.stderr.data)
}

// endWorkerOnly kills the idle worker at once (no grace: it holds no call) and leaves a pre-started program be; it is
// reaped with the rest after the program (killAll), so the hand-off does not wait for it to die.
func (r *runner) endWorkerOnly() {
	if r.worker == nil {
		return
	}
	r.worker.signal(syscall.SIGKILL)
	r.unwatch(r.worker.res)
	if !r.worker.logClosed {
		r.unwatch(r.worker.log)
	}
	r.unwatch(r.worker.ctl)
	r.worker.close()
	r.worker = nil
}

type programResult struct {
	exit           exitInfo
	stdout, stderr logCut
}

// runProgram gives the program its code and stdin, waits for it to exit, then kills whatever it left running (so
// pipes its children hold close) and returns its output, each stream cut at `limit` bytes on a UTF-8 boundary.
func runProgram(p *program, code, stdin []byte, limit int) *programResult {
	res := &programResult{stdout: logCut{limit: limit}, stderr: logCut{limit: limit}}
	var wg sync.WaitGroup
	wg.Add(4)
	feed := func(f *os.File, b []byte) {
		defer wg.Done()
		_, _ = f.Write(b) // EPIPE when the program stops reading: that is its choice
		_ = f.Close()
	}
	go feed(p.code, code)
	go feed(p.stdin, stdin)
	go capture(p.stdout, &res.stdout, &wg)
	go capture(p.stderr, &res.stderr, &wg)
	res.exit = waitExit(p.pid)
	killAll() // its children may hold the pipes open; the container is retired anyway
	wg.Wait()
	res.stdout.data = trimPartialRune(res.stdout.data)
	res.stderr.data = trimPartialRune(res.stderr.data)
	return res
}

// capture reads a stream to its end, keeping up to the cut's limit and counting the rest as dropped.
func capture(f *os.File, into *logCut, wg *sync.WaitGroup) {
	defer wg.Done()
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			into.add(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func waitExit(pid int) exitInfo {
	var status syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &status, 0, nil)
		if got == pid || (err != nil && err != syscall.EINTR) {
			break
		}
	}
	info := exitInfo{}
	switch {
	case status.Signaled():
		info.Signal = signalName(status.Signal())
		info.OOM = status.Signal() == syscall.SIGKILL && oomKilledSinceLastLook()
	case status.Exited():
		code := status.ExitStatus()
		info.Code = &code
	}
	return info
}
