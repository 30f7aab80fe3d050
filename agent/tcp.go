package main

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

type portArgs struct {
	Port *int `json:"port"`
}

func loopback(payload []byte, min int) (string, error) {
	var a portArgs
	if err := decodeArgs(payload, &a, "port"); err != nil {
		return "", err
	}
	if *a.Port < min || *a.Port > 65535 {
		return "", invalid("port must be %d..65535", min)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(*a.Port)), nil
}

func opConnect(st *stream, payload []byte) error {
	addr, err := loopback(payload, 1)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	nc, err := d.DialContext(st.ctx, "tcp4", addr)
	if st.isAborted() {
		if nc != nil {
			nc.Close()
		}
		return errCancelled
	}
	if err != nil {
		return err
	}
	if err := st.started(struct{}{}); err != nil {
		nc.Close()
		return err
	}
	return pipeTCP(st, nc.(*net.TCPConn))
}

// pipeTCP carries a connection over a stream: channel 0 to the peer, the peer to channel 1, EOF as
// half-close; RESULT {} once both directions are closed. CANCEL resets the connection.
func pipeTCP(st *stream, nc *net.TCPConn) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-st.ctx.Done(): // CANCEL (or the connection to the runner ended)
			nc.SetLinger(0)
			nc.Close()
		case <-stop:
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // runner → peer
		defer wg.Done()
		if _, err := io.Copy(nc, &st.in); err != nil {
			st.in.close()
			nc.Close()
			return
		}
		nc.CloseWrite()
	}()
	_, err := io.CopyBuffer(chanWriter{st, 1}, nc, make([]byte, 32768))
	if err == nil {
		if err := st.eof(1); err != nil {
			nc.Close()
			return err
		}
	} else {
		// the peer reset, or CANCEL: the runner's side is over too
		st.in.close()
		nc.Close()
	}
	wg.Wait()
	nc.Close()
	return st.result(struct{}{})
}

// startListen runs on the reader loop, so a CANCEL always finds the listener.
func startListen(st *stream, payload []byte) error {
	addr, err := loopback(payload, 0)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	st.mu.Lock()
	st.onCancel = func() { l.Close() }
	st.mu.Unlock()
	if err := st.started(map[string]int{"port": l.Addr().(*net.TCPAddr).Port}); err != nil {
		l.Close()
		return err
	}
	go acceptLoop(st, l)
	return nil
}

func acceptLoop(st *stream, l net.Listener) {
	defer l.Close()
	go func() { <-st.ctx.Done(); l.Close() }()
	for {
		nc, err := l.Accept()
		if err != nil {
			if st.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				st.result(struct{}{})
				return
			}
			time.Sleep(50 * time.Millisecond) // e.g. out of fds: try again
			continue
		}
		peer := nc.RemoteAddr().(*net.TCPAddr).Port
		as := st.c.openAccepted(map[string]interface{}{"op": "accepted", "listener": st.id, "peer_port": peer})
		if as == nil {
			nc.Close()
			continue
		}
		go pipeTCP(as, nc.(*net.TCPConn))
	}
}
