package main

import (
	"bytes"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	b := appendFrame(nil, 7, tData, []byte{1}, []byte("abc"))
	f, err := readFrame(bytes.NewReader(b))
	if err != nil || f.stream != 7 || f.typ != tData || string(f.payload) != "\x01abc" {
		t.Fatalf("%+v %v", f, err)
	}
}

// FuzzDecode: no input makes the decoder or the frame checks panic or allocate past maxPayload.
// Run briefly with: go test -fuzz=FuzzDecode -fuzztime=20s
func FuzzDecode(f *testing.F) {
	f.Add(appendFrame(nil, 1, tOpen, []byte(`{"op":"exec","argv":["sh"]}`)))
	f.Add(appendFrame(nil, 1, tWindow, []byte{1, 0, 0, 1, 0}))
	f.Add(appendFrame(nil, 0, tPing, []byte("x")))
	f.Add(appendFrame(nil, 3, tData, []byte{0}, []byte("abc")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			fr, err := readFrame(r)
			if err != nil {
				return
			}
			if len(fr.payload) > maxPayload {
				t.Fatalf("payload of %d", len(fr.payload))
			}
			if checkFrame(fr) == nil && (fr.typ == tOpen || fr.typ == tControl) {
				var m controlMsg
				decodeArgs(fr.payload, &m, "signal")
			}
		}
	})
}
