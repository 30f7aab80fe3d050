package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// The agent as a microVM's init (src/sandbox/qemu/): the kernel starts it as /init from the initramfs the
// image pipeline builds. It loads the virtio and ext4 modules the initramfs lists, mounts the VM's disk as
// its root, and then serves the runner over a virtio-serial port instead of stdin/stdout — one connection
// after another, as a runner restart, a snapshot or a fork each bring a new one (docs/agent-protocol.md, SYNC).

const (
	// tSync opens a connection on a serial channel: the runner sends it, the agent answers with HELLO.
	tSync       byte = 13
	vmPortName       = "paddock"
	vmNewRoot        = "/newroot"
	sysFinitMod      = 313 // finit_module(2) on amd64
	// How often a disconnected port is tried again: a restored VM's runner connects within this.
	vmReconnectPoll = 5 * time.Millisecond
)

// vmTmpfsMB is the size of /work and /tmp in the VM (--vm-tmpfs-mb), like the containers' tmpfs dirs.
var vmTmpfsMB = 64

func isVMInit() bool { return os.Getpid() == 1 && len(os.Args) > 0 && os.Args[0] == "/init" }

// vmInit prepares the VM and returns its channel: the virtio-serial port named "paddock".
func vmInit() (*os.File, error) {
	for _, m := range []struct{ src, dst, fstype, data string }{
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
	} {
		if err := syscall.Mount(m.src, m.dst, m.fstype, syscall.MS_NOSUID, m.data); err != nil {
			return nil, fmt.Errorf("mounting %s: %w", m.dst, err)
		}
	}
	if err := loadModules("/modules.order"); err != nil {
		return nil, err
	}
	if err := waitPath("/dev/vda", 10*time.Second); err != nil {
		return nil, err
	}
	if err := syscall.Mount("/dev/vda", vmNewRoot, "ext4", 0, ""); err != nil {
		return nil, fmt.Errorf("mounting the root disk: %w", err)
	}
	port, err := openPort(vmPortName, 10*time.Second)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		os.MkdirAll(vmNewRoot+d, 0o755)
		if err := syscall.Mount(d, vmNewRoot+d, "", syscall.MS_MOVE, ""); err != nil {
			return nil, fmt.Errorf("moving %s: %w", d, err)
		}
	}
	// switch_root without deleting the initramfs: it holds this binary, which the exec shim re-runs.
	if err := os.Chdir(vmNewRoot); err != nil {
		return nil, err
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return nil, fmt.Errorf("moving the root: %w", err)
	}
	if err := syscall.Chroot("."); err != nil {
		return nil, err
	}
	os.Chdir("/")
	size := "size=" + strconv.Itoa(vmTmpfsMB) + "m"
	uid, gid := 0, 0
	if jobCred != nil {
		uid, gid = int(jobCred.Uid), int(jobCred.Gid)
	}
	for _, m := range []struct{ dst, fstype, data string }{
		{"/tmp", "tmpfs", size + ",mode=1777"},
		{"/work", "tmpfs", fmt.Sprintf("%s,mode=0755,uid=%d,gid=%d", size, uid, gid)},
		{"/dev/shm", "tmpfs", size + ",mode=1777"},
		{"/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.fstype, m.dst, m.fstype, syscall.MS_NOSUID|syscall.MS_NODEV, m.data); err != nil {
			return nil, fmt.Errorf("mounting %s: %w", m.dst, err)
		}
	}
	os.Remove("/dev/ptmx")
	os.Symlink("pts/ptmx", "/dev/ptmx")
	syscall.Sethostname([]byte("sandbox"))
	if err := vmNetworkUp(); err != nil {
		// Without its network an egress VM is broken, not merely offline: say so and stop.
		if vmNet != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		log.Printf("bringing lo up: %v", err)
	}
	return port, nil
}

// loadModules loads each module the initramfs lists, in order (dependencies first, as the builder wrote it).
func loadModules(list string) error {
	data, err := os.ReadFile(list)
	if err != nil {
		return fmt.Errorf("reading %s: %w", list, err)
	}
	for _, p := range strings.Fields(string(data)) {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("module %s: %w", p, err)
		}
		empty := []byte{0}
		_, _, e := syscall.Syscall(sysFinitMod, f.Fd(), uintptr(unsafe.Pointer(&empty[0])), 0)
		f.Close()
		if e != 0 && e != syscall.EEXIST {
			return fmt.Errorf("loading module %s: %w", p, e)
		}
	}
	return nil
}

func waitPath(p string, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		if _, err := os.Stat(p); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s: %w", p, max, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// openPort finds the virtio-serial port by the name the runner gave it (no udev here to make the
// /dev/virtio-ports link) and opens it.
func openPort(name string, max time.Duration) (*os.File, error) {
	deadline := time.Now().Add(max)
	for {
		ents, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, e := range ents {
			if b, err := os.ReadFile(e); err == nil && strings.TrimSpace(string(b)) == name {
				dev := "/dev/" + filepath.Base(filepath.Dir(e))
				if err := waitPath(dev, max); err != nil {
					return nil, err
				}
				fd, err := syscall.Open(dev, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
				if err != nil {
					return nil, fmt.Errorf("opening %s: %w", dev, err)
				}
				return os.NewFile(uintptr(fd), dev), nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio-serial port named %q within %s", name, max)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// resync ends a connection: a SYNC came in the middle of it (a fork of a snapshot taken while it was open,
// or a runner that lost its side), and opens the next.
type resync struct{ payload []byte }

func (r *resync) Error() string { return "SYNC: a new connection" }

// serveSerial serves one connection after another on the port: each starts with the runner's SYNC. What a
// connection left running is killed when it ends, as when a container's attach ends; the VM lives on.
func serveSerial(port *os.File, rp *reaper) {
	r := bufio.NewReaderSize(port, headerLen+maxPayload)
	var next *syncMsg
	for {
		if next == nil {
			m, err := waitSync(r)
			if err != nil {
				log.Printf("waiting for the runner: %v", err)
				time.Sleep(vmReconnectPoll)
				continue
			}
			next = m
		}
		c := newConn(r, port, rp)
		c.serial, c.nonce = true, next.Nonce
		next = nil
		err := c.serve()
		c.killAll()
		if rs, ok := err.(*resync); ok {
			if m, perr := applySync(rs.payload); perr == nil {
				next = m
			} else {
				log.Print(perr)
			}
		} else if err != nil {
			log.Printf("closing the connection: %v", err)
		}
	}
}

// syncMsg is SYNC's payload: the runner's clock (a restored VM's is as old as its snapshot) and
// entropy (forks of one snapshot must not share the kernel's random state).
type syncMsg struct {
	TimeMs int64  `json:"time_ms"`
	Seed   []byte `json:"seed"`
	// Nonce comes back in HELLO, so the runner tells this connection's HELLO from bytes an old one left in flight.
	Nonce string `json:"nonce"`
}

// waitSync scans, byte by byte, for a SYNC frame (stream 0, type 13, a JSON object), dropping what comes
// before it: what an old connection left in flight, padding, or the rest of a frame the guest was inside
// when it was snapshotted — so it finds the SYNC whatever the alignment. While no runner is connected the
// port reads end of file: try again shortly.
func waitSync(r *bufio.Reader) (*syncMsg, error) {
	for {
		b, err := r.Peek(headerLen + 1)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if len(b) > 0 && !bytes.HasPrefix(syncPrefixOf(b), b) {
				r.Discard(1)
				continue
			}
			time.Sleep(vmReconnectPoll)
			continue
		}
		if err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(b[0:4])
		if binary.BigEndian.Uint32(b[4:8]) != 0 || b[8] != tSync || b[9] != '{' || n > maxSyncPayload {
			r.Discard(1)
			continue
		}
		frame, err := r.Peek(headerLen + int(n))
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				time.Sleep(vmReconnectPoll)
				continue
			}
			return nil, err
		}
		m, err := applySync(frame[headerLen:])
		if err != nil {
			r.Discard(1) // not a SYNC after all
			continue
		}
		r.Discard(len(frame))
		return m, nil
	}
}

// syncPrefixOf is what a SYNC frame's first bytes look like up to len(b), so a partial read at end of file
// keeps what may be the start of one.
func syncPrefixOf(b []byte) []byte {
	p := make([]byte, len(b))
	copy(p, b)
	if len(p) > 4 {
		for i := 4; i < len(p) && i < 8; i++ {
			p[i] = 0
		}
	}
	if len(p) > 8 {
		p[8] = tSync
	}
	if len(p) > 9 {
		p[9] = '{'
	}
	return p
}

func syncNonce(payload []byte) string {
	var m syncMsg
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	return m.Nonce
}

const (
	rndAddEntropy  = 0x40085203 // RNDADDENTROPY
	rndReseedCrng  = 0x5207     // RNDRESEEDCRNG
	maxSeedBytes   = 512
	maxNonceLength = 64
	maxSyncPayload = 4096
)

// applySync sets the clock and reseeds the kernel's random generator at once: written entropy alone
// would wait for the next scheduled reseed, and until then forks of one snapshot would draw alike.
func applySync(payload []byte) (*syncMsg, error) {
	var m syncMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("SYNC payload: %w", err)
	}
	if len(m.Seed) > maxSeedBytes || len(m.Nonce) > maxNonceLength {
		return nil, fmt.Errorf("SYNC: seed or nonce too long")
	}
	if m.TimeMs > 0 {
		tv := syscall.NsecToTimeval(m.TimeMs * int64(time.Millisecond))
		if err := syscall.Settimeofday(&tv); err != nil && os.Getpid() == 1 {
			log.Printf("setting the clock: %v", err)
		}
	}
	if len(m.Seed) > 0 && os.Getpid() == 1 {
		if f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0); err == nil {
			buf := make([]byte, 8+len(m.Seed))
			binary.LittleEndian.PutUint32(buf[0:], uint32(len(m.Seed)*8))
			binary.LittleEndian.PutUint32(buf[4:], uint32(len(m.Seed)))
			copy(buf[8:], m.Seed)
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
				log.Printf("adding the runner's entropy: %v", e)
			}
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), rndReseedCrng, 0); e != 0 {
				log.Printf("reseeding: %v", e)
			}
			f.Close()
		}
	}
	return &m, nil
}
