package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

type run struct {
	id    string
	stray logCut
}

type runner struct {
	workerPath string
	workerArgs []string

	epfd  int
	poll  *epollWaiter
	ch    channel     // to and from the agent (channel.go)
	agent frameBuffer // frames from the agent

	worker     *worker
	fromWorker frameBuffer
	ctlOut     []byte // bytes queued for the worker's control pipe

	up          bool   // the worker said it started
	initDone    bool   // a function is loaded
	initFrame   *frame // the agent's init, while the worker loads it
	initStray   logCut
	runs        []*run // in the order they were sent: stray output belongs to the oldest
	logLimit    int
	outputLimit int
	frozen      bool
	// Why the container must not serve another call; set once, reported with the next answer (or at once, by a
	// retired frame, when it breaks with nothing in flight).
	retire     string
	retireSent bool // the agent has been told
	tmp        tmpWatch
	// The pid namespace's last pid when /proc last showed no leftover process.
	lastPid int
	// WEFT_RUNNER_SETTLE=off skips the checks between calls: only the runner-boundary benchmark sets it, to
	// measure what they cost. The agent never does, and a function's env reaches only the worker.
	settleOff bool
	freezeOff bool     // WEFT_RUNNER_SETTLE=no-freeze: the checks, without SIGSTOP between calls (benchmark only)
	prepared  *program // an interpreter pre-started for ad-hoc code (exec_prepare), until exec or init
	// A frame of at least bigFrameBytes passed through (code, an event, an output): the heap grew for it, and Go
	// would keep those pages until its background scavenger got to them. The next idle turn hands them back.
	bigFrame bool
}

// bigFrameBytes: a frame this large grows the runner's heap well past its few hundred KiB per call.
const bigFrameBytes = 256 << 10

func newRunner(path string, args []string) *runner {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		fatal("epoll: %v", err)
	}
	r := &runner{workerPath: path, workerArgs: args, epfd: epfd, logLimit: 256 << 10, outputLimit: 6 << 20,
		settleOff: os.Getenv("WEFT_RUNNER_SETTLE") == "off", freezeOff: os.Getenv("WEFT_RUNNER_SETTLE") == "no-freeze"}
	r.poll = newEpollWaiter(epfd)
	r.agent.maxPayload = maxAgentPayload
	r.ch = openChannel()
	r.watch(r.ch.in, syscall.EPOLLIN)
	return r
}

func (r *runner) watch(fd int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		fatal("epoll add %d: %v", fd, err)
	}
}

func (r *runner) rewatch(fd int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	_ = rawEpollCtl(r.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

func (r *runner) unwatch(fd int) {
	_ = rawEpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}

// answer sends a call's (or an init's) final frame, saying whether the container must be retired.
func (r *runner) answer(h map[string]any, payload ...[]byte) {
	if r.retire != "" {
		h["retire"] = r.retire
		r.retireSent = true
	}
	r.send(h, payload...)
}

// sendFinal sends a frame after which the agent removes the container (an init_error, an exec's answer): the agent
// needs no retired frame besides.
func (r *runner) sendFinal(h any, payload ...[]byte) {
	r.retireSent = true
	r.send(h, payload...)
}

// send writes one frame to the agent (blocking: the agent always reads).
func (r *runner) send(h any, payload ...[]byte) {
	if err := r.ch.write(encodeFrame(h, payload...)); err != nil {
		fatal("writing to the agent: %v", err)
	}
}

func (r *runner) loop() {
	events := make([]syscall.EpollEvent, 8)
	buf := make([]byte, 256<<10)
	for {
		n, err := r.poll.wait(events)
		if err != nil {
			fatal("epoll wait: %v", err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch {
			case fd == r.ch.in:
				r.readAgent(buf)
			case r.worker != nil && fd == r.worker.res:
				r.readResults(buf)
			case r.worker != nil && fd == r.worker.log:
				r.readStray(buf)
			case r.worker != nil && fd == r.worker.ctl:
				if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && len(r.ctlOut) == 0 {
					r.controlClosed()
					continue
				}
				r.flushControl()
			}
		}
		r.retireIfBrokenWhileIdle()
		r.returnGrownHeap()
	}
}

// returnGrownHeap gives the pages a large frame took back to the host once nothing is in flight (after the answer
// went): a warm container's memory is what it holds between calls, times every container on the host.
func (r *runner) returnGrownHeap() {
	if r.bigFrame && r.idle() {
		r.bigFrame = false
		debug.FreeOSMemory()
	}
}

// ---- agent → runner ----------------------------------------------------------------------------------

func (r *runner) readAgent(buf []byte) {
	for {
		n, err := r.ch.read(buf)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			break
		}
		if err != nil || n == 0 {
			// The agent closed the channel: the container is being removed.
			killAll()
			os.Exit(0)
		}
		r.agent.buf = append(r.agent.buf, buf[:n]...)
		if n < len(buf) {
			break
		}
	}
	for {
		f, err := r.agent.next()
		if err != nil {
			fatal("malformed frame from the agent")
		}
		if f == nil {
			return
		}
		r.bigFrame = r.bigFrame || len(f.payload) >= bigFrameBytes
		switch f.h.T {
		case "init":
			r.startInit(f)
		case "run":
			r.startRun(f)
		case "exec_prepare":
			r.prepareExec()
		case "exec":
			r.startExec(f)
		default:
			fmt.Fprintf(os.Stderr, "weft-runner: unknown frame %q from the agent\n", f.h.T)
		}
	}
}

func (r *runner) startWorker() {
	w, err := spawnWorker(r.workerPath, r.workerArgs)
	if err != nil {
		fatal("starting the worker: %v", err)
	}
	r.worker = w
	r.tmp = newTmpWatch()
	r.fromWorker.maxPayload = maxHeaderBytes
	r.watch(w.res, syscall.EPOLLIN)
	r.watch(w.log, syscall.EPOLLIN)
	r.watch(w.ctl, 0)
}

func (r *runner) startInit(f *frame) {
	if r.worker == nil || !r.up || r.initDone || r.initFrame != nil || r.retire != "" {
		r.sendFinal(map[string]any{"t": "init_error", "error": runError{Type: "InitFailed", Message: "the container cannot load a function now"}})
		r.noteRetire("init sent at the wrong time")
		return
	}
	if r.prepared != nil {
		// The container loads a function after all: the interpreter waiting for ad-hoc code goes.
		r.prepared.discard()
		r.prepared = nil
	}
	if f.h.LogLimit > 0 {
		r.logLimit = f.h.LogLimit
	}
	if f.h.OutputLimit > 0 {
		r.outputLimit = f.h.OutputLimit
	}
	r.fromWorker.maxPayload = r.outputLimit + r.logLimit + (1 << 10)
	r.initFrame = f
	r.initStray = logCut{limit: r.logLimit}
	if r.frozen {
		r.worker.signal(syscall.SIGCONT)
		r.frozen = false
	}
	r.toWorker(encodeFrame(map[string]any{"t": "init", "codeBytes": len(f.payload), "env": f.h.Env, "concurrency": f.h.Concurrency,
		"logLimit": r.logLimit, "outputLimit": r.outputLimit}, f.payload))
}

func (r *runner) startRun(f *frame) {
	if r.worker == nil || !r.initDone || r.retire != "" {
		// The call never reached the function: the agent may give it to another container.
		why := r.retire
		if why == "" {
			why = "the container has no function loaded"
		}
		r.answer(map[string]any{"t": "refused", "id": f.h.ID, "reason": why})
		return
	}
	for _, p := range r.runs {
		if p.id == f.h.ID {
			fatal("the agent sent run %q twice", f.h.ID)
		}
	}
	if r.frozen {
		// A worker that ended, or was continued, since it was stopped (its pipes' news not read yet) never sees the call.
		if stopped, _ := r.worker.stopped(); !stopped {
			r.noteRetire("the function's process was continued or ended while it was stopped")
			r.endUserProcesses()
			r.answer(map[string]any{"t": "refused", "id": f.h.ID, "reason": r.retire})
			return
		}
	}
	r.runs = append(r.runs, &run{id: f.h.ID, stray: logCut{limit: r.logLimit}})
	// The frame goes into the pipe while the worker is still stopped, and only then is it continued: it wakes once,
	// to a read that returns at once, instead of waking to wait in that read and again when the frame comes.
	r.toWorker(append(append(f.line, '\n'), f.payload...))
	if r.frozen && r.worker != nil {
		r.worker.signal(syscall.SIGCONT)
		r.frozen = false
	}
}

// toWorker queues bytes for the worker's control pipe; a worker that stops reading stalls only itself.
func (r *runner) toWorker(b []byte) {
	r.ctlOut = append(r.ctlOut, b...)
	r.flushControl()
}

func (r *runner) flushControl() {
	for len(r.ctlOut) > 0 {
		n, err := rawWrite(r.worker.ctl, r.ctlOut)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			r.watchControl(true)
			return
		}
		if err != nil {
			r.ctlOut = nil
			r.watchControl(false)
			r.workerGone()
			return
		}
		r.ctlOut = r.ctlOut[n:]
	}
	r.ctlOut = nil
	r.watchControl(false)
}

// controlClosed: nothing reads the worker's control pipe any more (the function closed fd 3). It can take no
// other call, and epoll would report the closed pipe at every turn of the loop, a spin until the next call: the
// pipe leaves the epoll set and the container is retired (at once while idle, else with the answer in flight).
func (r *runner) controlClosed() {
	r.unwatch(r.worker.ctl)
	r.noteRetire("the function closed its control pipe")
}

// watchControl asks epoll to say when the worker's control pipe has room (a frame did not fit), or stops asking;
// only a change costs a system call, so a frame that fits at once (nearly every one) costs none.
func (r *runner) watchControl(writable bool) {
	if r.worker.ctlWatched == writable {
		return
	}
	r.worker.ctlWatched = writable
	var events uint32
	if writable {
		events = syscall.EPOLLOUT
	}
	r.rewatch(r.worker.ctl, events)
}

// ---- worker → runner ---------------------------------------------------------------------------------

func (r *runner) readStray(buf []byte) {
	for r.worker != nil {
		n, err := rawRead(r.worker.log, buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			// Everything holding the worker's stdout and stderr closed them.
			r.unwatch(r.worker.log)
			r.worker.logClosed = true
			r.noteRetire("the function closed its stdout and stderr")
			return
		}
		r.stray(buf[:n])
	}
}

// stray attributes output that is not a frame to the oldest call in flight, or to the init.
func (r *runner) stray(b []byte) {
	switch {
	case len(r.runs) > 0:
		r.runs[0].stray.add(b)
	default:
		r.initStray.add(b) // during init, or before it (the worker starting)
	}
}

func (r *runner) drainStray() {
	if r.worker == nil || r.worker.logClosed {
		return
	}
	r.readStray(strayScratch)
}

// strayScratch is drainStray's read buffer, made once: a call drains two or three times, and a fresh 64 KiB each
// time was most of the runner's garbage per call (its heap, and so its RSS, grew to the GC's 4 MiB floor).
var strayScratch = make([]byte, 64<<10)

func (r *runner) readResults(buf []byte) {
	for r.worker != nil {
		n, err := rawRead(r.worker.res, buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil || n == 0 {
			r.workerGone()
			return
		}
		r.fromWorker.buf = append(r.fromWorker.buf, buf[:n]...)
		if r.fromWorker.bufferedBytes() > r.fromWorker.maxPayload+maxHeaderBytes {
			r.workerBroke("the worker wrote more than a frame may hold")
			return
		}
		if n < len(buf) {
			// The pipe held less than the buffer: it is empty now, and epoll (level-triggered) reports what comes
			// next. Reading on would cost a system call per call to hear EAGAIN.
			break
		}
	}
	for r.worker != nil {
		f, err := r.fromWorker.next()
		if err != nil {
			r.workerBroke("the worker wrote a malformed frame")
			return
		}
		if f == nil {
			return
		}
		r.bigFrame = r.bigFrame || len(f.payload) >= bigFrameBytes
		switch f.h.T {
		case "up":
			if r.up {
				r.workerBroke("the worker said it started twice")
				return
			}
			r.up = true
			r.send(map[string]any{"t": "ready", "runtime": os.Getenv("WEFT_RUNTIME"), "protocol": 2})
		case "init_ok", "init_error":
			r.finishInit(f)
		case "result":
			r.finishRun(f)
		default:
			r.workerBroke(fmt.Sprintf("the worker wrote an unknown frame %q", truncate(f.h.T, 40)))
		}
	}
}

func (r *runner) finishInit(f *frame) {
	if r.initFrame == nil {
		r.workerBroke("the worker answered an init it was not sent")
		return
	}
	if f.h.LogBytes > r.logLimit {
		r.workerBroke("the worker's init logs are over the limit")
		return
	}
	r.drainStray()
	logs, truncated := joinLogs(f.payload, f.h.LogsTruncated, &r.initStray, r.logLimit)
	r.initFrame = nil
	if f.h.T == "init_error" {
		e := sanitizeError(f.h.Error)
		r.noteRetire("the function did not load")
		r.endUserProcesses()
		r.sendFinal(map[string]any{"t": "init_error", "error": e, "logBytes": len(logs), "logsTruncated": truncated}, logs)
		return
	}
	r.worker.baselineThreads = r.worker.threads()
	r.worker.noteBaselineTasks()
	// limits() reads into a buffer the next read reuses: the baseline is a copy.
	r.worker.baselineLimits = append([]byte(nil), r.worker.limits()...)
	r.lastPid = 0 // look at /proc after the first call
	r.initDone = true
	// Settled before the answer: code whose loading leaves work behind (a process, /tmp over half full) could serve
	// no call, so it fails to load, as the function's own fault, rather than every call finding the container gone.
	r.settleIfIdle()
	if r.retire != "" {
		r.sendFinal(map[string]any{"t": "init_error", "error": runError{Type: "InitFailed", Message: truncate("loading the function left work behind: "+r.retire, 400)},
			"logBytes": len(logs), "logsTruncated": truncated}, logs)
		return
	}
	r.send(map[string]any{"t": "init_ok", "logBytes": len(logs), "logsTruncated": truncated}, logs)
}

func (r *runner) finishRun(f *frame) {
	i := r.indexOf(f.h.ID)
	if i < 0 {
		r.workerBroke("the worker answered a call it was not sent")
		return
	}
	h := f.h
	ok := h.OK != nil && *h.OK
	if h.LogBytes > r.logLimit || h.OutputBytes > r.outputLimit || (ok && h.Error != nil) || (!ok && (h.Error == nil || h.OutputBytes != 0)) {
		r.workerBroke("the worker wrote a result frame that breaks the protocol")
		return
	}
	if h.Dirty != "" {
		r.noteRetire("the call left work running: " + truncate(h.Dirty, 200))
	}
	r.drainStray()
	p := r.runs[i]
	r.runs = append(r.runs[:i], r.runs[i+1:]...)
	if len(r.runs) == 0 {
		r.settleIfIdle()
		r.drainStray() // what the ended processes wrote before they went
	}
	output := f.payload[:h.OutputBytes]
	logs, truncated := joinLogs(f.payload[h.OutputBytes:], h.LogsTruncated, &p.stray, r.logLimit)
	answer := map[string]any{"t": "result", "id": p.id, "ok": ok, "outputBytes": len(output), "logBytes": len(logs), "logsTruncated": truncated}
	if !ok {
		answer["error"] = sanitizeError(h.Error)
	}
	r.answer(answer, output, logs)
}

func (r *runner) indexOf(id string) int {
	for i, p := range r.runs {
		if p.id == id {
			return i
		}
	}
	return -1
}

// settleIfIdle runs between calls, before the last call's answer is sent: the worker is stopped first
// (so nothing can start while we look), then anything the call left behind ends the worker and retires
// the container; otherwise the worker stays stopped until the next call.
func (r *runner) settleIfIdle() {
	if len(r.runs) > 0 || r.worker == nil || r.initFrame != nil || !r.initDone {
		return
	}
	if r.retire == "" && !r.settleOff {
		if !r.freezeOff {
			r.worker.signal(syscall.SIGSTOP)
			r.frozen = true
			if !r.worker.waitStopped() {
				r.noteRetire("the function's process did not stop between calls")
			}
		}
		if why := r.leftovers(); why != "" {
			r.noteRetire(why)
		}
	}
	if r.retire != "" {
		r.endUserProcesses()
	}
}

// leftovers says what a finished call left behind, or "".
func (r *runner) leftovers() string {
	// A thread is a pid too: when none was made since the last clean check, no thread can have replaced another.
	created := !noNewProcessSince(r.lastPid)
	if created {
		before := lastPid()
		if others := leftoverProcesses(r.worker.pid); len(others) > 0 {
			return fmt.Sprintf("the call left %d process(es) running", len(others))
		}
		// One reaped between the stop and the look hung the worker up in gVisor, or something else continued it.
		if stopped, _ := r.worker.stopped(); !stopped && !r.freezeOff {
			return "the function's process was continued or ended while it was stopped"
		}
		r.lastPid = before
	}
	if t := r.worker.threadsWhileStopped(r.frozen); t > r.worker.baselineThreads {
		return fmt.Sprintf("the call left %d thread(s) running", t-r.worker.baselineThreads)
	}
	if created && !r.worker.baselineTasksAlive() {
		return "a thread of the worker ended and another may run in its place"
	}
	if why := r.tmp.overHalf(); why != "" {
		return why
	}
	// A call that lowered the worker's own limits (open files, processes, memory) would break every later one.
	if base := r.worker.baselineLimits; base != nil && !bytes.Equal(r.worker.limits(), base) {
		return "the call changed the process's resource limits"
	}
	return ""
}

func (r *runner) noteRetire(why string) {
	if r.retire == "" {
		r.retire = why
	}
}

// workerBroke: the worker broke the protocol; every call in flight ends as a runtime fault.
func (r *runner) workerBroke(why string) {
	r.noteRetire(why)
	r.drainStray()
	r.endUserProcesses()
	for _, p := range r.runs {
		logs, truncated := p.stray.bytes()
		r.answer(map[string]any{"t": "fault", "id": p.id, "reason": why, "logBytes": len(logs), "logsTruncated": truncated}, logs)
	}
	r.runs = nil
	if r.initFrame != nil {
		r.initFrame = nil
		r.sendFinal(map[string]any{"t": "init_error", "error": runError{Type: "InitFailed", Message: why}})
	}
}

// workerGone: the worker exited (or closed its result pipe); calls in flight end as killed.
func (r *runner) workerGone() {
	if r.worker == nil {
		return
	}
	r.drainStray()
	exit := r.worker.stop()
	if !r.up {
		logs, _ := r.initStray.bytes()
		fatal("the worker exited before it started (%s): %s", exit.String(), truncate(string(logs), 2000))
	}
	idle := r.idle()
	r.noteRetire("the function's process exited")
	r.endUserProcesses()
	if idle {
		r.sendRetired()
	}
	for _, p := range r.runs {
		logs, truncated := p.stray.bytes()
		r.answer(map[string]any{"t": "result", "id": p.id, "ok": false, "exit": exit, "logBytes": len(logs), "logsTruncated": truncated}, logs)
	}
	r.runs = nil
	if r.initFrame != nil {
		r.initFrame = nil
		logs, truncated := r.initStray.bytes()
		r.sendFinal(map[string]any{"t": "init_error", "error": runError{Type: "InitFailed", Message: "the function's process exited while loading: " + exit.String()},
			"logBytes": len(logs), "logsTruncated": truncated}, logs)
	}
}

func (r *runner) idle() bool { return len(r.runs) == 0 && r.initFrame == nil }

// retireIfBrokenWhileIdle: with no call or init in flight, the container must serve no further call and no frame
// has said so: the worker's stdout and stderr closed (the worker is stopped between calls, so something else ended
// it and its processes: one the last call left, an outside kill), or it broke the protocol after its last answer.
// Whatever is left is ended, and the agent is told now rather than by a refused call. (The worker's own exit is
// workerGone.)
func (r *runner) retireIfBrokenWhileIdle() {
	if r.retire == "" || r.retireSent || !r.up || !r.idle() {
		return
	}
	if r.worker != nil {
		r.endUserProcesses()
	}
	r.sendRetired()
}

// sendRetired tells the agent, unasked, that the container must serve no further call (once).
func (r *runner) sendRetired() {
	if r.retireSent {
		return
	}
	r.retireSent = true
	r.send(map[string]any{"t": "retired", "reason": r.retire})
}

// endUserProcesses ends the worker and everything it started; the container is then retired.
func (r *runner) endUserProcesses() {
	if r.worker != nil {
		r.unwatch(r.worker.res)
		if !r.worker.logClosed {
			r.drainStray()
			r.unwatch(r.worker.log)
		}
		r.unwatch(r.worker.ctl)
		r.worker.stop()
		r.worker.close()
		r.worker = nil
	}
	killAll()
	r.frozen = false
}

// ---- logs ------------------------------------------------------------------------------------------------

// logCut keeps output up to a byte limit and counts the rest; no per-line work.
type logCut struct {
	limit     int
	data      []byte
	truncated bool
}

func (l *logCut) add(b []byte) {
	room := l.limit - len(l.data)
	if len(b) > room {
		b = b[:max(room, 0)]
		l.truncated = true
	}
	l.data = append(l.data, b...)
}

func (l *logCut) bytes() ([]byte, bool) { return l.data, l.truncated }

// joinLogs puts what the worker captured before the stray output, cut at the limit on a UTF-8 boundary.
func joinLogs(captured []byte, capturedTruncated bool, stray *logCut, limit int) ([]byte, bool) {
	out := make([]byte, 0, len(captured)+len(stray.data))
	out = append(out, captured...)
	out = append(out, stray.data...)
	truncated := capturedTruncated || stray.truncated
	if len(out) > limit {
		out = out[:limit]
		truncated = true
	}
	if truncated {
		out = trimPartialRune(out)
	}
	return out, truncated
}

func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c&0xC0 != 0x80 { // a lead or ASCII byte
			need := 1
			switch {
			case c&0xE0 == 0xC0:
				need = 2
			case c&0xF0 == 0xE0:
				need = 3
			case c&0xF8 == 0xF0:
				need = 4
			}
			if need > i {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

func sanitizeError(e *runError) runError {
	if e == nil {
		return runError{Type: "Error", Message: "the handler failed without an error"}
	}
	return fitError(runError{Type: truncate(e.Type, 200), Message: truncate(e.Message, 16<<10), Stack: truncate(e.Stack, 32<<10)})
}

// maxErrorJSON bounds an error as JSON inside a header of at most maxHeaderBytes: control characters (and <, >, &)
// take six bytes each as JSON, so the cut parts can still be too long; the stack, then the message, are halved.
const maxErrorJSON = 40 << 10

func fitError(e runError) runError {
	for {
		b, err := json.Marshal(e)
		if err != nil || len(b) <= maxErrorJSON {
			return e
		}
		switch {
		case e.Stack != "":
			e.Stack = truncate(e.Stack, len(e.Stack)/2)
		case len(e.Message) > 1:
			e.Message = truncate(e.Message, len(e.Message)/2)
		default:
			return e
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return string(trimPartialRune([]byte(s[:n])))
}
