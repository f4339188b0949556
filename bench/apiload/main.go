// Command apiload measures how many requests per second a daemon's REST API
// serves on its unix socket: C clients, each with its own connection, send
// GET PATH back to back for a fixed time. It prints one line:
// "<requests/s> <requests> <errors>". Used by bench/run.sh for lodged and LXD.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	sock := flag.String("socket", "", "unix socket of the daemon")
	path := flag.String("path", "/1.0/instances", "path to GET")
	conc := flag.Int("c", 1, "concurrent clients")
	dur := flag.Duration("d", 5*time.Second, "how long to send")
	flag.Parse()
	if *sock == "" {
		fmt.Fprintln(os.Stderr, "apiload: -socket is required")
		os.Exit(2)
	}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection per client, kept alive, as a real client does.
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", *sock)
			}}
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for time.Now().Before(deadline) {
				resp, err := c.Get("http://daemon" + *path)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("%.1f %d %d\n", float64(ok.Load())/el, ok.Load(), failed.Load())
}
