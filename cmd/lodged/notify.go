package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// notifier speaks systemd's readiness protocol (sd_notify(3)): one
// datagram of "KEY=VALUE" lines to the unix socket named by $NOTIFY_SOCKET,
// which systemd sets for a Type=notify service. Outside systemd the
// variable is unset and every call does nothing.
type notifier struct{ addr string }

// newNotifier takes $NOTIFY_SOCKET and removes it from the environment, so
// that lodged's helpers (container monitors, dnsmasq, lxcfs) cannot speak
// for the service.
func newNotifier() notifier {
	addr := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	switch {
	case strings.HasPrefix(addr, "@"):
		addr = "\x00" + addr[1:] // abstract namespace
	case strings.HasPrefix(addr, "/"):
	default:
		addr = "" // unset, or a vsock address lodged does not speak
	}
	return notifier{addr: addr}
}

func (n notifier) send(state string) error {
	if n.addr == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd on %q: %w", n.addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd on %q: %w", n.addr, err)
	}
	return nil
}

// readyWhenServing sends READY=1 once GET /1.0 answers 200 on the socket
// (the server listens only after recovery and its networks are up), so
// that `systemctl start lodged` returns when clients can use lodged. It
// gives up when ctx ends (lodged is stopping before it served).
func (n notifier) readyWhenServing(ctx context.Context, c *http.Client, log *slog.Logger) {
	if n.addr == "" {
		return
	}
	for {
		if apiAnswers(ctx, c) {
			if err := n.send("READY=1\nSTATUS=serving the API\nMAINPID=" + fmt.Sprint(os.Getpid())); err != nil {
				log.Warn("systemd readiness", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func apiAnswers(ctx context.Context, c *http.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://unix.socket/1.0", nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// unixClientAt is an HTTP client for the API socket at sock.
func unixClientAt(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}
