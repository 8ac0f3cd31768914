package main

// The per-call system calls, made raw. Go's syscall.Syscall tells the scheduler a call may block (entersyscall),
// and while every P is idle the runtime's monitor thread (sysmon) sleeps until such a call wakes it (a futex
// wake); awake, it polls every 20 µs (nanosleep) until it finds every P idle again, and sleeps (a futex wait).
// The runner parks at least twice per call (for the worker's answer, then for the next call), so every call woke
// sysmon again: futex and nanosleep took about a fifth of the runner's CPU samples under load (perf, 2026-12-03).
// None of these calls blocks (non-blocking descriptors, MSG_DONTWAIT, /proc and statfs reads, signals), so they go
// straight to the kernel and leave the scheduler out. A call that can block (the blocking write of a frame the
// agent's socket has no room for, waiting for a process) stays a scheduled syscall.

import (
	"syscall"
	"unsafe"
)

func rawErr(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// bufPtr is the address of b's first byte, or 0 for an empty b (the kernel reads nothing there).
func bufPtr(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

// rawRead reads a non-blocking descriptor.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), bufPtr(b), uintptr(len(b)))
	return int(n), rawErr(e)
}

// rawWrite writes to a non-blocking descriptor.
func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), bufPtr(b), uintptr(len(b)))
	return int(n), rawErr(e)
}

// rawPread reads a /proc file from an offset.
func rawPread(fd int, b []byte, off int64) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), bufPtr(b), uintptr(len(b)), uintptr(off), 0, 0)
	return int(n), rawErr(e)
}

func rawKill(pid int, sig syscall.Signal) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_KILL, uintptr(pid), uintptr(sig), 0)
	return rawErr(e)
}

// rawRecvNow takes what a socket holds without waiting (EAGAIN when nothing).
func rawRecvNow(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), bufPtr(b), uintptr(len(b)), syscall.MSG_DONTWAIT, 0, 0)
	return int(n), rawErr(e)
}

// rawSendNow sends what fits in a socket's buffer now (EAGAIN when nothing does); a closed peer is EPIPE, not SIGPIPE.
func rawSendNow(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), bufPtr(b), uintptr(len(b)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	return int(n), rawErr(e)
}

func rawEpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return rawErr(e)
}

// rawEpollWaitNow returns the ready events without waiting (epoll_pwait: amd64 and arm64 alike).
func rawEpollWaitNow(epfd int, events []syscall.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), rawErr(e)
}

// rawStatfs reads a file system's counts; path is NUL-terminated (made once, so the call allocates nothing).
func rawStatfs(path []byte, s *syscall.Statfs_t) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_STATFS, bufPtr(path), uintptr(unsafe.Pointer(s)), 0)
	return rawErr(e)
}
