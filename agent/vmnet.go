package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// A VM's network, as its init sets it up: lo always, and with --vm-net=ADDR/PREFIX,GATEWAY the NIC
// (eth0, virtio-net) on the /30 the runner's per-VM namespace routes (src/sandbox/qemu/network.ts),
// a default route through it and --vm-dns resolvers in /etc/resolv.conf. ioctls only: the image
// need not have ip(8), and this runs before anything of the image does.

type vmNetConfig struct {
	addr    net.IP
	mask    net.IPMask
	gateway net.IP
}

var (
	vmNet *vmNetConfig
	vmDNS []net.IP
)

const (
	sysSIOCADDRT = 0x890B
	rtfUp        = 0x1
	rtfGateway   = 0x2
)

// parseVMNet reads --vm-net=ADDR/PREFIX,GATEWAY (IPv4 only).
func parseVMNet(v string) (*vmNetConfig, error) {
	cidr, gw, ok := strings.Cut(v, ",")
	ip, ipnet, err := net.ParseCIDR(cidr)
	g := net.ParseIP(gw)
	if !ok || err != nil || ip.To4() == nil || g == nil || g.To4() == nil || !ipnet.Contains(g) || ip.Equal(g) {
		return nil, fmt.Errorf("--vm-net: %q is not ADDR/PREFIX,GATEWAY (IPv4, the gateway on the same network)", v)
	}
	return &vmNetConfig{addr: ip.To4(), mask: ipnet.Mask, gateway: g.To4()}, nil
}

// parseVMDNS reads --vm-dns=IP[,IP...] (at most 3, as resolv.conf reads).
func parseVMDNS(v string) ([]net.IP, error) {
	var out []net.IP
	for _, s := range strings.Split(v, ",") {
		ip := net.ParseIP(s)
		if ip == nil || ip.To4() == nil || len(out) == 3 {
			return nil, fmt.Errorf("--vm-dns: %q is not 1 to 3 IPv4 addresses", v)
		}
		out = append(out, ip.To4())
	}
	return out, nil
}

// resolvConf is what the guest's /etc/resolv.conf says: the runner's resolvers, or nothing at all
// (no network, or DNS off) so no lookup waits on a server it cannot reach.
func resolvConf(dns []net.IP) string {
	var b strings.Builder
	b.WriteString("# written by paddock-agent (the VM's init)\n")
	for _, ip := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", ip)
	}
	return b.String()
}

type ifreq [40]byte

func putSockaddrIn(b []byte, ip net.IP) {
	binary.LittleEndian.PutUint16(b[0:], syscall.AF_INET)
	copy(b[4:8], ip.To4())
}

// ifUp sets IFF_UP on an interface, and with ip an address and netmask first.
func ifUp(fd int, name string, ip net.IP, mask net.IPMask) error {
	var r ifreq
	copy(r[:15], name)
	if ip != nil {
		putSockaddrIn(r[16:], ip)
		if err := ioctl(fd, syscall.SIOCSIFADDR, unsafe.Pointer(&r[0])); err != nil {
			return fmt.Errorf("%s address: %w", name, err)
		}
		r = ifreq{}
		copy(r[:15], name)
		putSockaddrIn(r[16:], net.IP(mask))
		if err := ioctl(fd, syscall.SIOCSIFNETMASK, unsafe.Pointer(&r[0])); err != nil {
			return fmt.Errorf("%s netmask: %w", name, err)
		}
		r = ifreq{}
		copy(r[:15], name)
	}
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(&r[0])); err != nil {
		return fmt.Errorf("%s flags: %w", name, err)
	}
	flags := binary.LittleEndian.Uint16(r[16:]) | syscall.IFF_UP | syscall.IFF_RUNNING
	binary.LittleEndian.PutUint16(r[16:], flags)
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(&r[0])); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

// defaultRoute adds 0.0.0.0/0 via gw (struct rtentry, amd64 layout).
func defaultRoute(fd int, gw net.IP) error {
	var rt [120]byte
	putSockaddrIn(rt[8:], net.IPv4zero)  // rt_dst
	putSockaddrIn(rt[24:], gw)           // rt_gateway
	putSockaddrIn(rt[40:], net.IPv4zero) // rt_genmask
	binary.LittleEndian.PutUint16(rt[56:], rtfUp|rtfGateway)
	if err := ioctl(fd, sysSIOCADDRT, unsafe.Pointer(&rt[0])); err != nil && err != syscall.EEXIST {
		return fmt.Errorf("default route: %w", err)
	}
	return nil
}

// vmNetworkUp brings lo up and, when configured, eth0 with its address and route; then writes
// /etc/resolv.conf (in the VM's root, after the switch).
func vmNetworkUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := ifUp(fd, "lo", nil, nil); err != nil {
		return err
	}
	if vmNet != nil {
		// Egress is IPv4 only (the namespace drops IPv6): no address, not even link-local, on the NIC.
		for _, f := range []string{"all", "default"} {
			os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0o644)
		}
		// The virtio-net driver names its device when the module probes it, just before.
		if err := waitPath("/sys/class/net/eth0", 5*time.Second); err != nil {
			return err
		}
		if err := ifUp(fd, "eth0", vmNet.addr, vmNet.mask); err != nil {
			return err
		}
		if err := defaultRoute(fd, vmNet.gateway); err != nil {
			return err
		}
	}
	// A symlink (systemd-resolved's stub) would point somewhere else in this VM: replace it.
	os.Remove("/etc/resolv.conf")
	if err := os.WriteFile("/etc/resolv.conf", []byte(resolvConf(vmDNS)), 0o644); err != nil && vmNet != nil {
		return err
	}
	return nil
}
