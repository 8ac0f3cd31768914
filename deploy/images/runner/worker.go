package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// worker is the language process that runs the user's code as uid 65534. Its fds: 0 /dev/null,
// 1 and 2 the stray-output pipe, 3 the control pipe (frames in), 4 the result pipe (frames out).
type worker struct {
	pid             int
	statFd          int // /proc/<pid>/stat, kept open and read again from offset 0
	limitsFd        int // /proc/<pid>/limits, likewise
	baselineLimits  []byte
	ctl, res, log   int // the runner's ends
	baselineThreads int
	// The worker's threads right after init, each as an open /proc/<pid>/task/<tid>/stat: a descriptor stays bound to
	// its thread, so a thread that ended reads as gone even when a new one was given its number.
	baselineTasks []int
	// The thread count the last look at a stopped worker read (0: none since it was last continued).
	stoppedThreads int
	ctlWatched     bool // epoll watches ctl for room (EPOLLOUT)
	logClosed      bool
	exited         *exitInfo
}

type exitInfo struct {
	Code   *int   `json:"code,omitempty"`
	Signal string `json:"signal,omitempty"`
	OOM    bool   `json:"oom,omitempty"`
}

func (e *exitInfo) String() string {
	switch {
	case e == nil:
		return "unknown"
	case e.OOM:
		return "out of memory"
	case e.Signal != "":
		return "killed by " + e.Signal
	case e.Code != nil:
		return "exit code " + strconv.Itoa(*e.Code)
	}
	return "unknown"
}

func spawnWorker(path string, args []string) (*worker, error) {
	var ctl, res, log [2]int
	for _, p := range []*[2]int{&ctl, &res, &log} {
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, err
		}
	}
	devnull, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Dir:   "/tmp",
		Env:   workerEnv(),
		Files: []uintptr{uintptr(devnull), uintptr(log[1]), uintptr(log[1]), uintptr(ctl[0]), uintptr(res[1])},
		Sys:   userProcessAttr(),
	}
	pid, err := syscall.ForkExec(path, args, attr)
	for _, fd := range []int{devnull, log[1], ctl[0], res[1]} {
		syscall.Close(fd)
	}
	if err != nil {
		syscall.Close(log[0])
		syscall.Close(ctl[1])
		syscall.Close(res[0])
		return nil, err
	}
	for _, fd := range []int{ctl[1], res[0], log[0]} {
		_ = syscall.SetNonblock(fd, true)
	}
	statFd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		statFd = -1
	}
	limitsFd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/limits", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		limitsFd = -1
	}
	return &worker{pid: pid, statFd: statFd, limitsFd: limitsFd, ctl: ctl[1], res: res[0], log: log[0]}, nil
}

// userProcessAttr: user code (the worker, an ad-hoc program) runs as uid 65534, dies with the runner, and leads a
// session of its own, so it can signal nothing it did not start: the kernel lets SIGCONT through to any process of
// the sender's session, whatever its uid, so a worker in the runner's session could reach the runner and the init.
//
// The cost, in gVisor only: a group with no member whose parent is in another group of its session is orphaned, and
// gVisor sends SIGHUP then SIGCONT to every member of an orphaned group that has a stopped member each time one of
// its processes is reaped (Linux, only when the group becomes orphaned). The worker's group is always orphaned, so
// a child of the worker reaped while the worker is stopped hangs the worker up. A call can do that to itself (a
// child that stops itself, another that ends); between calls the settle sees to it that nothing can (settleIfIdle).
func userProcessAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: workerUID, Gid: workerGID, Groups: []uint32{}},
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
	}
}

// workerEnv is the runner's own environment (the image's PATH, HOME, ...); the worker adds the
// function's at init.
func workerEnv() []string {
	env := make([]string, 0, 16)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEFT_") {
			env = append(env, kv)
		}
	}
	return env
}

func (w *worker) signal(sig syscall.Signal) {
	if sig == syscall.SIGCONT {
		w.stoppedThreads = 0
	}
	_ = rawKill(w.pid, sig)
}

// threads is the worker's thread count (field 20 of /proc/<pid>/stat), or a large number when unreadable.
func (w *worker) threads() int {
	if w.statFd < 0 {
		return 1 << 30
	}
	n, err := rawPread(w.statFd, statBuf, 0)
	if err != nil || n <= 0 {
		return 1 << 30
	}
	return threadCount(statFields(statBuf[:n]))
}

// threadsWhileStopped is threads(), taken from the look that found the worker stopped when `frozen` says it still
// is: a stopped thread group can neither start a thread nor end one (only SIGKILL, which ends them all), so the
// count read then is the count now, without reading /proc again.
func (w *worker) threadsWhileStopped(frozen bool) int {
	if frozen && w.stoppedThreads > 0 {
		return w.stoppedThreads
	}
	return w.threads()
}

// threadCount reads num_threads from /proc/<pid>/stat's fields (those after "pid (comm)": state is [0], num_threads
// [17]), or a large number when it is not there.
func threadCount(f [][]byte) int {
	if len(f) < 18 {
		return 1 << 30
	}
	t, err := strconv.Atoi(string(f[17]))
	if err != nil {
		return 1 << 30
	}
	return t
}

var statBuf = make([]byte, 4096)

// noteBaselineTasks opens the stat of each of the worker's threads, once the function has loaded.
func (w *worker) noteBaselineTasks() {
	dir := "/proc/" + strconv.Itoa(w.pid) + "/task/"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := syscall.Open(dir+e.Name()+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
			w.baselineTasks = append(w.baselineTasks, fd)
		}
	}
}

// baselineTasksAlive says every thread the worker had after init still runs (none ended, nor is a zombie). With
// no more threads than then, the worker's threads are exactly those: a call cannot end one of its threads and
// leave a new one in its place, which a count alone would not see.
func (w *worker) baselineTasksAlive() bool {
	if len(w.baselineTasks) == 0 {
		return false
	}
	for _, fd := range w.baselineTasks {
		n, err := rawPread(fd, statBuf, 0)
		if err != nil || n <= 0 {
			return false
		}
		f := statFields(statBuf[:n])
		if len(f) == 0 || f[0][0] == 'Z' || f[0][0] == 'X' {
			return false
		}
	}
	return true
}

// limits reads the worker's resource limits as the kernel prints them (nil when unreadable), into a buffer the
// next call reuses.
func (w *worker) limits() []byte {
	if w.limitsFd < 0 {
		return nil
	}
	n, err := rawPread(w.limitsFd, limitsBuf, 0)
	if err != nil || n <= 0 {
		return nil
	}
	return limitsBuf[:n]
}

// limitsBuf is reused by every read of the limits: what limits() returns is valid until its next call.
var limitsBuf = make([]byte, 4096)

// stopped says whether the worker is stopped now (SIGSTOP took its whole thread group, and nothing continued it).
func (w *worker) stopped() (stopped, readable bool) {
	if w.statFd < 0 {
		return false, false
	}
	n, err := rawPread(w.statFd, statBuf, 0)
	if err != nil || n <= 0 {
		return false, false
	}
	f := statFields(statBuf[:n])
	stopped = len(f) > 0 && (f[0][0] == 'T' || f[0][0] == 't')
	if stopped {
		w.stoppedThreads = threadCount(f)
	}
	return stopped, true
}

// waitStopped waits (briefly) until SIGSTOP has stopped the worker's whole thread group.
func (w *worker) waitStopped() bool {
	for i := 0; i < 2000; i++ {
		stopped, readable := w.stopped()
		if !readable {
			return false
		}
		if stopped {
			return true
		}
		if i < 100 {
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return false
}

// statFields splits /proc/<pid>/stat after the command name, which may hold spaces and parentheses.
func statFields(stat []byte) [][]byte {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 || end+2 > len(stat) {
		return nil
	}
	return bytes.Fields(stat[end+2:])
}

// stop reaps the worker, killing it if it has not exited within a moment (its pipes close just before
// it becomes a zombie), and says how it ended.
func (w *worker) stop() *exitInfo {
	if w.exited != nil {
		return w.exited
	}
	var status syscall.WaitStatus
	reaped := false
	for i := 0; i < 50 && !reaped; i++ {
		pid, err := syscall.Wait4(w.pid, &status, syscall.WNOHANG, nil)
		reaped = pid == w.pid || (err != nil && err != syscall.EINTR)
		if !reaped {
			time.Sleep(time.Millisecond)
		}
	}
	if !reaped {
		_ = syscall.Kill(w.pid, syscall.SIGKILL)
		for {
			pid, err := syscall.Wait4(w.pid, &status, 0, nil)
			if pid == w.pid || (err != nil && err != syscall.EINTR) {
				break
			}
		}
	}
	info := &exitInfo{}
	switch {
	case status.Signaled():
		info.Signal = signalName(status.Signal())
		info.OOM = reaped && status.Signal() == syscall.SIGKILL && oomKilledSinceLastLook()
	case status.Exited():
		code := status.ExitStatus()
		info.Code = &code
	}
	w.exited = info
	return info
}

func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT",
		syscall.SIGTERM: "SIGTERM", syscall.SIGBUS: "SIGBUS", syscall.SIGILL: "SIGILL", syscall.SIGFPE: "SIGFPE", syscall.SIGXCPU: "SIGXCPU"}
	if n, ok := names[s]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

func (w *worker) close() {
	for _, fd := range []int{w.ctl, w.res, w.log, w.statFd, w.limitsFd} {
		syscall.Close(fd)
	}
}

// ---- processes ---------------------------------------------------------------------------------------

// procDir is /proc, opened once and read again from the start for each listing.
var procDir = -1

func openProc() bool {
	if procDir >= 0 {
		return true
	}
	fd, err := syscall.Open("/proc", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	procDir = fd
	return true
}

// direntBuf is pids' buffer for /proc's entries, made once (the runner's loop is its only caller).
var direntBuf = make([]byte, 8<<10)

// pids lists the live processes of the container (its pid namespace), zombies excluded.
func pids() []int {
	var out []int
	buf := direntBuf
	if !openProc() {
		return nil
	}
	if _, err := syscall.Seek(procDir, 0, 0); err != nil {
		return nil
	}
	for {
		n, err := syscall.ReadDirent(procDir, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if name[0] < '0' || name[0] > '9' {
				continue
			}
			if pid, err := strconv.Atoi(name); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// procState reads a process's state letter and parent; ok is false once it is gone.
func procState(pid int) (state byte, ppid int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	f := statFields(stat)
	if len(f) < 2 || len(f[0]) == 0 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, true
}

func isZombie(state byte) bool { return state == 'Z' || state == 'X' }

var self = os.Getpid()

// lastPid reads the pid namespace's most recently allocated pid (the last field of /proc/loadavg), or 0
// where the kernel does not say (gVisor).
func lastPid() int {
	if loadavgFd < 0 {
		fd, err := syscall.Open("/proc/loadavg", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		loadavgFd = fd
	}
	buf := loadavgBuf[:]
	n, err := rawPread(loadavgFd, buf, 0)
	if err != nil || n <= 0 {
		return 0
	}
	fields := bytes.Fields(buf[:n])
	if len(fields) < 5 {
		return 0
	}
	p, _ := strconv.Atoi(string(fields[4]))
	return p
}

var (
	loadavgFd  = -1
	loadavgBuf [128]byte
)

// noNewProcessSince says, cheaply, that no process was created since `last` was read (0: cannot tell).
func noNewProcessSince(last int) bool { return last > 0 && lastPid() == last }

// userProcesses lists live processes other than the init, this runner and the worker.
func userProcesses(workerPID int) []int {
	return otherProcesses(workerPID, func(state byte, _ int) bool { return !isZombie(state) })
}

// leftoverProcesses lists what a call left: the live processes other than the init, this runner and the worker, and
// the ended ones the init has yet to reap. A process that ended only now is one the call left; its reaping, once the
// worker is stopped, would hang up the worker in gVisor (userProcessAttr). The worker's own unreaped children wait
// for the worker, which reaps them only when it runs again.
func leftoverProcesses(workerPID int) []int {
	return otherProcesses(workerPID, func(state byte, ppid int) bool { return !isZombie(state) || ppid != workerPID })
}

func otherProcesses(workerPID int, counts func(state byte, ppid int) bool) []int {
	var out []int
	for _, pid := range pids() {
		if pid == 1 || pid == self || pid == workerPID {
			continue
		}
		if state, ppid, ok := procState(pid); ok && counts(state, ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// killAll ends every process in the container but the init and this runner, including any a fork bomb
// starts while it works, and reaps this runner's children.
func killAll() {
	for round := 0; round < 200; round++ {
		_ = syscall.Kill(-1, syscall.SIGKILL)
		for {
			pid, _ := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 {
				break
			}
		}
		if len(userProcesses(-1)) == 0 {
			return
		}
		time.Sleep(time.Duration(round+1) * 100 * time.Microsecond)
	}
	fmt.Fprintln(os.Stderr, "weft-runner: processes survived 200 rounds of SIGKILL")
}

// ---- memory and /tmp -----------------------------------------------------------------------------------

var lastOOMKills = oomKills()

// oomKilledSinceLastLook says whether the kernel's OOM killer ended a process in this container since
// the last call.
func oomKilledSinceLastLook() bool {
	n := oomKills()
	killed := n > lastOOMKills
	lastOOMKills = n
	return killed && n >= 0
}

// oomKills reads the container cgroup's OOM kill count (cgroup v1 or v2), or -1 when unavailable.
func oomKills() int {
	for _, file := range []string{"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// tmpWatch tells when a writable tmpfs is over half full: Lambda-style, /tmp stays warm between calls
// of one function, but a call cannot leave it full for the next.
type tmpWatch struct {
	paths  []string
	cpaths [][]byte // the same, NUL-terminated for the raw statfs
}

func newTmpWatch() tmpWatch {
	t := tmpWatch{paths: []string{"/tmp", "/dev/shm"}}
	for _, p := range t.paths {
		t.cpaths = append(t.cpaths, append([]byte(p), 0))
	}
	return t
}

func (t tmpWatch) overHalf() string {
	for i, p := range t.paths {
		var s syscall.Statfs_t
		if err := rawStatfs(t.cpaths[i], &s); err != nil || s.Blocks == 0 {
			continue
		}
		used := s.Blocks - s.Bfree
		if used*2 > s.Blocks {
			return fmt.Sprintf("%s is over half full", p)
		}
		if s.Files > 0 && (s.Files-s.Ffree)*2 > s.Files {
			return fmt.Sprintf("%s has over half its inodes used", p)
		}
	}
	return ""
}
