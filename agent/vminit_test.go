package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"
)

func rawFrame(stream uint32, typ byte, payload []byte) []byte {
	b := make([]byte, headerLen, headerLen+len(payload))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], stream)
	b[8] = typ
	return append(b, payload...)
}

// eofThen reads end of file a few times (a port with no runner connected) before its data.
type eofThen struct {
	eofs int
	r    io.Reader
}

func (e *eofThen) Read(p []byte) (int, error) {
	if e.eofs > 0 {
		e.eofs--
		return 0, io.EOF
	}
	return e.r.Read(p)
}

func TestWaitSyncSkipsWhatCameBeforeIt(t *testing.T) {
	var in bytes.Buffer
	// What an old connection left in flight: frames of other types and streams, a SYNC on a stream.
	in.Write(rawFrame(3, tData, []byte{0, 'x'}))
	in.Write(rawFrame(5, tSync, []byte(`{}`)))
	in.Write(rawFrame(0, tPing, []byte("p")))
	in.Write(rawFrame(0, tSync, []byte(`{"time_ms":0,"nonce":"n1"}`)))
	in.Write(rawFrame(0, tPing, []byte("after")))
	r := bufio.NewReader(&eofThen{eofs: 3, r: &in})
	start := time.Now()
	m, err := waitSync(r)
	if err != nil || m.Nonce != "n1" {
		t.Fatalf("waitSync: %+v %v", m, err)
	}
	if time.Since(start) < 3*vmReconnectPoll {
		t.Fatalf("returned before the port had a reader: %s", time.Since(start))
	}
	f, err := readFrame(r)
	if err != nil || f.typ != tPing || string(f.payload) != "after" {
		t.Fatalf("the frame after SYNC: %+v %v", f, err)
	}
}

func TestWaitSyncFindsASyncWhateverTheAlignment(t *testing.T) {
	for skew := 0; skew < 12; skew++ {
		var in bytes.Buffer
		// The tail of a frame the guest was inside, a frame header claiming a huge payload, padding.
		in.Write(bytes.Repeat([]byte{7}, skew))
		in.Write([]byte{0, 1, 0, 0, 0, 0, 0, 0, tSync})
		in.Write(make([]byte, 9*5+skew%9))
		in.Write(rawFrame(0, tSync, []byte(`{"nonce":"n2"}`)))
		in.Write(rawFrame(0, tPing, []byte("next")))
		r := bufio.NewReaderSize(&in, headerLen+maxPayload)
		m, err := waitSync(r)
		if err != nil || m.Nonce != "n2" {
			t.Fatalf("skew %d: %+v %v", skew, m, err)
		}
		if f, err := readFrame(r); err != nil || string(f.payload) != "next" {
			t.Fatalf("skew %d: the frame after SYNC: %+v %v", skew, f, err)
		}
	}
}
