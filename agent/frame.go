package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Wire format of docs/agent-protocol.md: 4-byte length, 4-byte stream id, 1-byte type, payload.
const (
	headerLen  = 9
	maxPayload = 65536
	maxData    = maxPayload - 1 // DATA payload minus its channel byte
	initWindow = 262144
	maxPing    = 64
)

const (
	tHello   byte = 1
	tOpen    byte = 2
	tData    byte = 3
	tEOF     byte = 4
	tWindow  byte = 5
	tControl byte = 6
	tStarted byte = 7
	tResult  byte = 8
	tError   byte = 9
	tCancel  byte = 10
	tPing    byte = 11
	tPong    byte = 12
	// tPad, empty on stream 0, is padding on a serial channel (vminit.go): the runner sends runs of it to
	// end a frame a restored guest was still reading.
	tPad byte = 0
)

// protoError is a protocol violation by the runner: the connection ends.
type protoError struct{ msg string }

func (e *protoError) Error() string { return "protocol error: " + e.msg }

func perr(format string, a ...interface{}) error { return &protoError{fmt.Sprintf(format, a...)} }

type frame struct {
	stream  uint32
	typ     byte
	payload []byte
}

// readFrame reads one frame; io.EOF only at a frame boundary. The length is checked before the payload is
// allocated, so a hostile length cannot make it allocate more than maxPayload.
func readFrame(r io.Reader) (frame, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, perr("connection ended inside a frame header")
		}
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	f := frame{stream: binary.BigEndian.Uint32(hdr[4:8]), typ: hdr[8]}
	if n > maxPayload {
		return frame{}, perr("payload length %d over %d", n, maxPayload)
	}
	if (f.typ < tHello || f.typ > tSync) && !(f.typ == tPad && n == 0) {
		return frame{}, perr("unknown frame type %d", f.typ)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return frame{}, perr("connection ended inside a frame payload")
		}
		return frame{}, err
	}
	return f, nil
}

// appendFrame encodes a frame whose payload is the concatenation of parts.
func appendFrame(dst []byte, stream uint32, typ byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [headerLen]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(n))
	binary.BigEndian.PutUint32(hdr[4:8], stream)
	hdr[8] = typ
	dst = append(dst, hdr[:]...)
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

// checkFrame applies the rules that need no connection state to a frame from the runner: direction,
// payload shape, stream 0 only for PING.
func checkFrame(f frame) error {
	p := f.payload
	switch f.typ {
	case tPing:
		if f.stream != 0 {
			return perr("PING on stream %d", f.stream)
		}
		if len(p) > maxPing {
			return perr("PING of %d bytes", len(p))
		}
		return nil
	case tOpen, tControl:
		if err := checkObject(p); err != nil {
			return err
		}
	case tData:
		if len(p) < 1 || p[0] != 0 {
			return perr("DATA from the runner must be on channel 0")
		}
	case tEOF:
		if len(p) != 1 || p[0] != 0 {
			return perr("EOF from the runner must be 1 byte, channel 0")
		}
	case tWindow:
		if len(p) != 5 || (p[0] != 1 && p[0] != 2) {
			return perr("WINDOW must be 5 bytes for channel 1 or 2")
		}
		if binary.BigEndian.Uint32(p[1:]) == 0 {
			return perr("WINDOW increment 0")
		}
	case tCancel:
		if len(p) != 0 {
			return perr("CANCEL with a payload")
		}
	default:
		return perr("frame type %d is not sent by the runner", f.typ)
	}
	if f.stream == 0 {
		return perr("frame type %d on stream 0", f.typ)
	}
	return nil
}

// checkObject: the payload is exactly one JSON object (trailing bytes make Unmarshal fail).
func checkObject(p []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil || m == nil {
		return perr("payload is not one JSON object")
	}
	return nil
}
