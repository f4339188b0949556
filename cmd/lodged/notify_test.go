package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// READY=1 reaches $NOTIFY_SOCKET only once the API answers 200, and the
// variable is gone from the environment lodged's helpers inherit.
func TestReadyWhenServing(t *testing.T) {
	dir := t.TempDir()
	nsock := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", nsock)
	n := newNotifier()
	if _, set := os.LookupEnv("NOTIFY_SOCKET"); set {
		t.Fatal("NOTIFY_SOCKET still in the environment")
	}

	api := filepath.Join(dir, "unix.socket")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.readyWhenServing(ctx, unixClientAt(api), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	// Nothing listens yet: no datagram.
	pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 512)
	if _, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatal("READY sent before the API answered")
	}
	// The API answers 503 first (not ready), then 200.
	l, err := net.Listen("unix", api)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer l.Close()
	pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatal("READY sent while the API answered 503")
	}
	close(ready)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	nr, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no READY once the API answers: %v", err)
	}
	if got := string(buf[:nr]); got[:8] != "READY=1\n" {
		t.Fatalf("notify message %q", got)
	}
	<-done
}

// Without NOTIFY_SOCKET (not under systemd) nothing is sent and nothing
// waits.
func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := newNotifier()
	if err := n.send("READY=1"); err != nil {
		t.Fatal(err)
	}
	n.readyWhenServing(context.Background(), unixClientAt("/nonexistent"), slog.New(slog.NewTextHandler(io.Discard, nil)))
}
