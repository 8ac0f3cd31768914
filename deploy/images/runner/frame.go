package main

// Frames: one JSON header line (at most maxHeaderBytes, ending "\n"), then the payload segments the
// header names by length. Nothing in a payload is ever scanned for line ends. See ../PROTOCOL.md.

import (
	"bytes"
	"encoding/json"
	"errors"
)

const maxHeaderBytes = 64 << 10

// header is the union of every header field any frame uses; which are set depends on t.
type header struct {
	T             string            `json:"t"`
	ID            string            `json:"id,omitempty"`
	OK            *bool             `json:"ok,omitempty"`
	Error         *runError         `json:"error,omitempty"`
	CodeBytes     int               `json:"codeBytes,omitempty"`
	EventBytes    int               `json:"eventBytes,omitempty"`
	StdinBytes    int               `json:"stdinBytes,omitempty"`
	OutputBytes   int               `json:"outputBytes,omitempty"`
	LogBytes      int               `json:"logBytes,omitempty"`
	LogsTruncated bool              `json:"logsTruncated,omitempty"`
	Dirty         string            `json:"dirty,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Concurrency   int               `json:"concurrency,omitempty"`
	LogLimit      int               `json:"logLimit,omitempty"`
	Runtime       string            `json:"runtime,omitempty"`
	OutputLimit   int               `json:"outputLimit,omitempty"`
}

type runError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Stack   string `json:"stack,omitempty"`
}

// frame is a parsed header, the raw header line, and its payload.
type frame struct {
	h       header
	line    []byte // the header line without its "\n"
	payload []byte
}

// payloadBytes is how many payload bytes follow a header, by its type.
func (h *header) payloadBytes() int {
	switch h.T {
	case "init":
		return h.CodeBytes
	case "run":
		return h.EventBytes
	case "exec":
		return h.CodeBytes + h.StdinBytes
	case "result":
		return h.OutputBytes + h.LogBytes
	case "init_ok", "init_error":
		return h.LogBytes
	}
	return 0
}

var errFrame = errors.New("malformed frame")

// frameBuffer gathers bytes from one peer and yields whole frames; limits bound what a peer may send.
type frameBuffer struct {
	buf         []byte
	maxPayload  int
	pending     *frame
	needPayload int
}

// next returns the next whole frame, nil when more bytes are needed, or an error when the peer broke
// the protocol (the caller then treats the peer as hostile).
func (b *frameBuffer) next() (*frame, error) {
	if b.pending == nil {
		nl := bytes.IndexByte(b.buf, '\n')
		if nl < 0 {
			if len(b.buf) > maxHeaderBytes {
				return nil, errFrame
			}
			return nil, nil
		}
		if nl > maxHeaderBytes {
			return nil, errFrame
		}
		f := &frame{line: append([]byte(nil), b.buf[:nl]...)}
		if err := json.Unmarshal(f.line, &f.h); err != nil || f.h.T == "" {
			return nil, errFrame
		}
		n := f.h.payloadBytes()
		if n < 0 || n > b.maxPayload || f.h.OutputBytes < 0 || f.h.LogBytes < 0 || f.h.CodeBytes < 0 || f.h.StdinBytes < 0 {
			return nil, errFrame
		}
		b.buf = b.buf[nl+1:]
		b.pending, b.needPayload = f, n
	}
	if len(b.buf) < b.needPayload {
		return nil, nil
	}
	f := b.pending
	f.payload = append([]byte(nil), b.buf[:b.needPayload]...)
	b.buf = b.buf[b.needPayload:]
	if len(b.buf) == 0 {
		b.buf = nil // let a large payload's array go
	}
	b.pending = nil
	return f, nil
}

// bufferedBytes is what a peer has sent that is not yet a whole frame.
func (b *frameBuffer) bufferedBytes() int { return len(b.buf) }

func encodeFrame(h any, payload ...[]byte) []byte {
	line, _ := json.Marshal(h)
	n := len(line) + 1
	for _, p := range payload {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, line...)
	out = append(out, '\n')
	for _, p := range payload {
		out = append(out, p...)
	}
	return out
}
