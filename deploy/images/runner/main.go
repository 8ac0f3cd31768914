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
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"
)

// gcPercent keeps the runner's heap near what it holds. A warm container's memory is what it keeps between calls,
// times every container on the host: at Go's default (100) the heap grows to Go's 4 MiB floor of garbage before
// the first collection, whatever the runner keeps (about 0.4 MiB, its read buffers), and those pages stay
// resident. At 10 a python3 runner holds 4.8 MiB instead of 7.4 (RSS; anonymous 2.6 instead of 5.3) after 6,000
// calls, for the same CPU per call (105-120 µs against 115-117, three alternating pairs).
const gcPercent = 10

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
	// One goroutine does all the work: a second P only adds idle threads woken (a futex each) to look for work
	// whenever the runner's goroutine becomes ready, twice a call. go.mod's go 1.21 also keeps Go from reading the
	// container's CPU limit for this. Measured (npm run bench:runner, python3 runc): 140 → 113-120 µs per call.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(gcPercent)
	quietChildSignals()
	batchScheduled()
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

// quietChildSignals sets SIGCHLD back to its default action (discarded by the kernel, never delivered). Go installs
// a handler for every signal, so each SIGSTOP and SIGCONT of the worker between calls delivered a SIGCHLD that
// interrupted one of the runner's threads for nothing: the runner learns of its worker's exit from the worker's
// pipes closing and reaps it with wait4, which SIGCHLD's disposition does not change (SIG_IGN would; SIG_DFL does
// not). Nothing here uses os/signal, so Go never puts its handler back.
func quietChildSignals() {
	var dfl [4]uint64 // the kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGCHLD), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "weft-runner: SIGCHLD's default action could not be set: %v\n", e)
	}
}

// schedBatch is SCHED_BATCH from <linux/sched.h>: a normal policy with the same CPU weight (nice and the
// container's CPU limit apply as before) whose tasks never preempt a running task when they wake.
const schedBatch = 3

// batchScheduled puts every thread of the runner under SCHED_BATCH; the threads Go starts later and the worker
// inherit it from the thread that creates them. Every call wakes the runner twice (the agent's frame, the worker's
// answer), and a woken normal task preempts the one that woke it: the agent, still inside its write to the
// channel, lost its CPU to the runner and the worker for the whole call (the agent's CPU profile spent a fifth of
// its samples in that write under load), and served nothing else meanwhile. Batch tasks run when the other CPU is
// free or the waker's slice ends. Measured (README, the tenth round: nine alternating quick pairs): the queue path's
// CPU per call lower in 7 of 9 (medians 0.775 -> 0.738 ms), python3 direct throughput higher in 8 of 9 (3,114 ->
// 3,194/s), within a machine's drift as large as the effect. The worker may put itself back
// (moving between normal policies needs no privilege): it then preempts the agent as before, and gains nothing else.
// gVisor keeps its own scheduler: the call is accepted or refused inside the sandbox and changes nothing on the
// host; any error is ignored, since the runner works the same without it.
func batchScheduled() {
	var param int32 // struct sched_param: sched_priority, 0 for the normal policies
	for pass := 0; pass < 4; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		changed := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if p, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0); e == 0 && p == schedBatch {
				continue
			}
			if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedBatch, uintptr(unsafe.Pointer(&param))); e != 0 {
				return
			}
			changed = true
		}
		// A thread Go started from one not yet changed is normal: look again until a pass changes nothing.
		if !changed {
			return
		}
	}
}
