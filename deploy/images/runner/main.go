// weft-runner: the trusted process in every Weft runtime container (see ../PROTOCOL.md).
//
// It runs as uid 0 with only CAP_SETUID, CAP_SETGID and CAP_KILL, holds the only channel to the agent
// (a Unix socket in a directory only uid 0 can enter; see channel.go), and starts the language worker that loads and runs the user's code
// as uid 65534, which can neither read this process (/proc/<pid>/fd, environ, mem) nor signal it. Every
// byte the worker writes is untrusted: frames are parsed against hard limits, stray output is only
// counted and cut. After each call the runner makes sure nothing the call started is still running
// before it answers: leftover processes or threads, or a /tmp over half full, end the worker and retire the
// container; otherwise the worker is stopped (SIGSTOP) until the next call, so it cannot use CPU between
// calls.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

const (
	workerUID = 65534
	workerGID = 65534
	// agent → runner payloads: code (4 MiB) or an event (6 MiB), with room to spare.
	maxAgentPayload = 16 << 20
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: weft-runner WORKER-COMMAND [ARGS...]")
		os.Exit(2)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fatal("worker command: %v", err)
	}
	r := newRunner(path, os.Args[1:])
	// The worker starts now, so a stem cell's interpreter is already up when a function is loaded into it;
	// the agent hears "ready" once the worker says it is.
	r.startWorker()
	r.loop()
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "weft-runner: "+format+"\n", args...)
	killAll()
	os.Exit(1)
}

// writeAll writes to a blocking fd, retrying short writes and EINTR.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
