package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"lodge/errdefs"
)

// An exec session lets go of its websockets when the command ends (the
// operation may stay listed for minutes), and refuses a connect after.
func TestExecSessionDropsConnsWhenEnded(t *testing.T) {
	sess := &execSession{fds: map[string]string{"0": "s0", "control": "sc"}, conns: map[string]*websocket.Conn{}, connected: make(chan struct{})}
	errs := make(chan error, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := sess.connect(r.URL.Query().Get("secret"), w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		errs <- err
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?secret="
	c, _, err := websocket.DefaultDialer.Dial(url+"s0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-errs; err != nil || sess.conn("0") == nil {
		t.Fatal("fd 0 not connected")
	}
	sess.closeAll()
	sess.mu.Lock()
	left := len(sess.conns)
	sess.mu.Unlock()
	if left != 0 {
		t.Fatalf("the ended session still holds %d websockets", left)
	}
	if _, _, err := websocket.DefaultDialer.Dial(url+"sc", nil); err == nil {
		t.Fatal("a connect after the end was accepted")
	}
	if err := <-errs; !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("connect after the end: %v", err)
	}
}
