package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func needBench(t *testing.T) {
	t.Helper()
	needIntegration(t)
	if os.Getenv("LODGE_BENCH") != "1" {
		t.Skip("set LODGE_BENCH=1 to run the network benchmarks")
	}
}

// 50 busybox containers on the default network, launched 4 at a time:
// the time until every one holds a lease.
func TestBenchLeases50(t *testing.T) {
	needBench(t)
	ensureImage(t, "busybox", "busybox")
	const n = 50
	names := make(chan string, n)
	for i := 0; i < n; i++ {
		names <- fmt.Sprintf("nwb%02d", i)
	}
	close(names)
	t.Cleanup(func() {
		for i := 0; i < n; i++ {
			lodgeOut("delete", "-f", fmt.Sprintf("nwb%02d", i))
		}
	})
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				if out, err := lodgeOut("launch", "busybox", name); err != nil {
					t.Errorf("%v %s", err, out)
				}
			}
		}()
	}
	wg.Wait()
	launched := time.Since(start)
	waitFor(t, "50 leases", 120*time.Second, func() bool {
		ls := leases(t, defaultNet)
		c := 0
		for h := range ls {
			if strings.HasPrefix(h, "nwb") {
				c++
			}
		}
		return c == n
	})
	t.Logf("BENCH 50 containers: launched in %.1fs, all leased after %.1fs", launched.Seconds(), time.Since(start).Seconds())
}

func throughput(t *testing.T, addr string, size int64) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	start := time.Now()
	if _, err := io.CopyBuffer(c, io.LimitReader(zeroReader{}, size), buf); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	c.Close()
	return float64(size) / time.Since(start).Seconds() / (1 << 20)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Proxy device throughput against a direct connection on the host's
// loopback, and against the container's address over the bridge.
func TestBenchProxyThroughput(t *testing.T) {
	needBench(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "nwpb1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwpb1") })
	runEchoServer(t, "nwpb1")
	l := waitLease(t, defaultNet, "nwpb1")
	port := freePort(t)
	lodge(t, "config", "device", "add", "nwpb1", "sink", "proxy", fmt.Sprintf("listen=tcp:127.0.0.1:%d", port), "connect=tcp:127.0.0.1:9")
	sink, _ := net.Listen("tcp", "127.0.0.1:0")
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	const size = 1 << 30
	waitFor(t, "the container's sink", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", l.Address+":9")
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	direct := throughput(t, sink.Addr().String(), size)
	bridge := throughput(t, l.Address+":9", size)
	proxied := throughput(t, fmt.Sprintf("127.0.0.1:%d", port), size)
	t.Logf("BENCH TCP 1 GiB: host loopback %.0f MiB/s, container over the bridge %.0f MiB/s, proxy device %.0f MiB/s (proxy/loopback %.2f)",
		direct, bridge, proxied, proxied/direct)
}
