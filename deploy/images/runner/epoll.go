package main

// Waiting for the runner's epoll set in Go's netpoller, not in a blocking epoll_wait.
//
// A goroutine blocked in a system call for over 10 ms has its P taken away by the runtime's monitor thread
// (sysmon), which then sleeps until that call returns and wakes it; woken, sysmon polls every 20 µs for a
// millisecond and backs off over the next ~20 ms. A runner blocked in epoll_wait between calls paid that at
// every call: sysmon slept and woke about 52 times per call (calls 30 ms apart), in every container on the host;
// with 100 warm functions the containers took more CPU per call than any Weft process. Parked in the netpoller
// instead, the runner holds no P while it waits, so sysmon sleeps through the wait; a system call during a call
// still wakes it, but it goes back to sleep as soon as the runner parks again (about 7 wake-ups per call).
//
// The epoll descriptor is itself pollable (readable while its ready list is not empty), so Go's poller watches
// it: wait reads the set without blocking and parks only when it is empty. The watched descriptors stay level-
// triggered in the set, so nothing that arrives between the read and the park is missed.

import (
	"os"
	"syscall"
	"time"
)

type epollWaiter struct {
	epfd int
	file *os.File        // keeps the descriptor registered with the netpoller (and open) for the runner's life
	conn syscall.RawConn // nil: the netpoller refused the descriptor; wait blocks in epoll_wait instead
}

func newEpollWaiter(epfd int) *epollWaiter {
	w := &epollWaiter{epfd: epfd}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		return w
	}
	w.file = os.NewFile(uintptr(epfd), "epoll")
	// A descriptor the netpoller did not take has no deadlines: then wait blocks in epoll_wait.
	if w.file.SetReadDeadline(time.Time{}) != nil {
		return w
	}
	if conn, err := w.file.SyscallConn(); err == nil {
		w.conn = conn
	}
	return w
}

// wait returns the ready events, parking in the netpoller until there are some.
func (w *epollWaiter) wait(events []syscall.EpollEvent) (int, error) {
	if w.conn == nil {
		for {
			n, err := syscall.EpollWait(w.epfd, events, -1)
			if err != syscall.EINTR {
				return n, err
			}
		}
	}
	var n int
	var err error
	readErr := w.conn.Read(func(uintptr) bool {
		for {
			n, err = rawEpollWaitNow(w.epfd, events)
			if err != syscall.EINTR {
				return n > 0 || err != nil
			}
		}
	})
	if readErr != nil {
		return 0, readErr
	}
	return n, err
}
