package main

import (
	"strings"
	"testing"
)

func TestParseVMNet(t *testing.T) {
	c, err := parseVMNet("172.30.0.2/30,172.30.0.1")
	if err != nil || c.addr.String() != "172.30.0.2" || c.gateway.String() != "172.30.0.1" || c.mask.String() != "fffffffc" {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{"", "172.30.0.2/30", "172.30.0.2/30,10.0.0.1", "172.30.0.2/30,172.30.0.2", "fd00::2/64,fd00::1", "172.30.0.2,172.30.0.1", "172.30.0.2/30,x"} {
		if _, err := parseVMNet(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestParseVMDNS(t *testing.T) {
	ips, err := parseVMDNS("10.255.255.53,1.1.1.1")
	if err != nil || len(ips) != 2 {
		t.Fatalf("got %v, %v", ips, err)
	}
	if got := resolvConf(ips); !strings.Contains(got, "nameserver 10.255.255.53\nnameserver 1.1.1.1\n") {
		t.Fatalf("resolv.conf: %q", got)
	}
	for _, bad := range []string{"", "1.1.1.1,", "::1", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4", "1.1.1.1\nnameserver 6.6.6.6"} {
		if _, err := parseVMDNS(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if strings.Contains(resolvConf(nil), "nameserver") {
		t.Fatal("no resolvers, yet a nameserver line")
	}
}
