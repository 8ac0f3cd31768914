package main

// Ad-hoc code execution (PROTOCOL.md "Ad-hoc execution"): the agent's exec frame carries a program and its
// stdin; the runner ends the pre-started worker, runs the runtime's interpreter on the program as uid 65534
// in /tmp, captures stdout and stderr apart (each cut at the log limit), and answers exec_result once the
// program has exited. Everything it started is then killed: a container that ran ad-hoc code serves nothing else.

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// programFile is where the program is written (by uid 0, mode 0444: the program can read but not change it).
func programFile() string {
	if os.Getenv("WEFT_RUNTIME") == "nodejs" {
		return "/tmp/main.js"
	}
	return "/tmp/main.py"
}

func (r *runner) startExec(f *frame) {
	if r.retire != "" || r.initDone || r.initFrame != nil {
		r.send(map[string]any{"t": "exec_error", "message": "the container cannot run a program now"})
		r.noteRetire("exec sent at the wrong time")
		return
	}
	r.noteRetire("the container ran ad-hoc code")
	if f.h.LogLimit > 0 {
		r.logLimit = f.h.LogLimit
	}
	// The interpreter the worker ran is the one the program runs under.
	r.endUserProcesses()
	code, stdin := f.payload[:f.h.CodeBytes], f.payload[f.h.CodeBytes:]
	res, err := runProgram(r.workerPath, programFile(), code, stdin, r.logLimit)
	if err != nil {
		r.send(map[string]any{"t": "exec_error", "message": truncate("starting the program failed: "+err.Error(), 400)})
		return
	}
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
	r.send(h, trimPartialRune(res.stdout.data), trimPartialRune(res.stderr.data))
}

type programResult struct {
	exit           exitInfo
	stdout, stderr logCut
}

// runProgram runs `interpreter file` with `stdin`, waits for it to exit, then kills whatever it left running
// (so pipes held by its children close) and returns its output, each stream cut at `limit` bytes.
func runProgram(interpreter, file string, code, stdin []byte, limit int) (*programResult, error) {
	_ = os.Remove(file)
	if err := os.WriteFile(file, code, 0o444); err != nil {
		return nil, err
	}
	var in, out, errp [2]int
	for _, p := range []*[2]int{&in, &out, &errp} {
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, err
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   "/tmp",
		Env:   workerEnv(),
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), uintptr(errp[1])},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: workerUID, Gid: workerGID, Groups: []uint32{}},
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	pid, err := syscall.ForkExec(interpreter, []string{interpreter, file}, attr)
	for _, fd := range []int{in[0], out[1], errp[1]} {
		syscall.Close(fd)
	}
	if err != nil {
		for _, fd := range []int{in[1], out[0], errp[0]} {
			syscall.Close(fd)
		}
		return nil, err
	}
	res := &programResult{stdout: logCut{limit: limit}, stderr: logCut{limit: limit}}
	var wg sync.WaitGroup
	wg.Add(3)
	stdinW := os.NewFile(uintptr(in[1]), "stdin")
	go func() {
		defer wg.Done()
		_, _ = stdinW.Write(stdin) // EPIPE when the program does not read it all: that is its choice
		_ = stdinW.Close()
	}()
	go capture(os.NewFile(uintptr(out[0]), "stdout"), &res.stdout, &wg)
	go capture(os.NewFile(uintptr(errp[0]), "stderr"), &res.stderr, &wg)
	res.exit = waitExit(pid)
	killAll() // its children may hold the pipes open; the container is retired anyway
	wg.Wait()
	return res, nil
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
		if err == io.EOF || err != nil {
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
