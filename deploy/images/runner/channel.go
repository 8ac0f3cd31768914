package main

// The channel to the agent. By default a Unix socket the agent listens on, in a host directory bind-mounted
// into the container (WEFT_CHANNEL names the socket's path inside): the runner connects once, before it starts
// the worker, and the agent accepts one connection and then unlinks the socket. The directory is mode 0700
// and owned by uid 0, so the worker (uid 65534) cannot even look into it, and the connected descriptor is
// close-on-exec, so no process the runner starts inherits it. Without WEFT_CHANNEL the channel is the
// container's stdin and stdout (docker attach): only the runner-boundary benchmark still measures that.
//
// Frames cross the socket exactly as they crossed stdin and stdout: no other framing, no demultiplexing.

import (
	"os"
	"syscall"
)

type channel struct {
	in, out int
	socket  bool // recv with MSG_DONTWAIT: the descriptor stays blocking for writes
}

func openChannel() channel {
	path := os.Getenv("WEFT_CHANNEL")
	if path == "" {
		if err := syscall.SetNonblock(0, true); err != nil {
			fatal("stdin: %v", err)
		}
		return channel{in: 0, out: 1}
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fatal("channel socket: %v", err)
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		fatal("connecting to the agent at %s: %v", path, err)
	}
	return channel{in: fd, out: fd, socket: true}
}

// read takes what the agent has sent without blocking: EAGAIN when there is nothing, n == 0 when it closed.
func (c channel) read(buf []byte) (int, error) {
	if !c.socket {
		return rawRead(c.in, buf)
	}
	return rawRecvNow(c.in, buf)
}

// write sends a frame: straight into the socket's buffer when it has room (always, but for a stalled agent), else
// by blocking writes.
func (c channel) write(b []byte) error {
	if c.socket {
		for len(b) > 0 {
			n, err := rawSendNow(c.out, b)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				break
			}
			if err != nil {
				return err
			}
			b = b[n:]
		}
	}
	return writeAll(c.out, b)
}
