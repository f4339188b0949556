package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func plainDial(network, addr string) (net.Conn, error) { return net.Dial(network, addr) }

func start(t *testing.T, listen, connect string) net.Addr {
	t.Helper()
	// Port 0 (any free port) is for tests only; ParseAddr refuses it.
	proto, _, _ := strings.Cut(listen, ":")
	l := Addr{Proto: proto, Host: "127.0.0.1"}
	c, err := ParseAddr(connect)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan net.Addr, 1)
	go Serve(ctx, l, c, plainDial, func(a net.Addr) { got <- a })
	select {
	case a := <-got:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("proxy did not start")
	}
	return nil
}

// Forwarding on loopback with a plain dialer: TCP with a half-close, UDP
// with replies to the right client.
func TestServeTCPAndUDP(t *testing.T) {
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
				c.Close()
			}()
		}
	}()
	p := start(t, "tcp:127.0.0.1:0", "tcp:"+echo.Addr().String())
	c, err := net.Dial("tcp", p.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if string(b) != "HELLO" {
		t.Fatalf("tcp reply %q", b)
	}

	uecho, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer uecho.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := uecho.ReadFrom(buf)
			if err != nil {
				return
			}
			uecho.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	up := start(t, "udp:127.0.0.1:0", "udp:"+uecho.LocalAddr().String())
	for _, msg := range []string{"one", "two"} {
		u, err := net.Dial("udp", up.String())
		if err != nil {
			t.Fatal(err)
		}
		u.SetDeadline(time.Now().Add(5 * time.Second))
		u.Write([]byte(msg))
		buf := make([]byte, 100)
		n, err := u.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(msg) {
			t.Fatalf("udp reply %q %v", buf[:n], err)
		}
		u.Close()
	}
}
