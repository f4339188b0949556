package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// fakeServer serves handler on a unix socket in a temp dir.
func fakeServer(t *testing.T, h http.Handler) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "unix.socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := Connect("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(w http.ResponseWriter, code int, r api.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(r)
}

func syncReply(w http.ResponseWriter, md any) {
	b, _ := json.Marshal(md)
	reply(w, 200, api.Response{Type: api.SyncResponse, StatusCode: 200, Metadata: b})
}

func TestEnvelopeAndErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /1.0", func(w http.ResponseWriter, r *http.Request) { syncReply(w, api.Server{APIVersion: "1.0"}) })
	mux.HandleFunc("GET /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 404, api.Response{Type: api.ErrorResponse, ErrorCode: 404, Error: `instance "x" not found`})
	})
	c := fakeServer(t, mux)
	s, err := c.GetServer(context.Background())
	if err != nil || s.APIVersion != "1.0" {
		t.Fatalf("server: %+v %v", s, err)
	}
	_, _, err = c.GetInstance(context.Background(), "x")
	if !IsNotFound(err) || err.Error() != `instance "x" not found` {
		t.Fatalf("error: %v", err)
	}
	if _, err := Connect("https://example.invalid"); err == nil {
		t.Fatal("https accepted")
	}
}

func TestOperationWait(t *testing.T) {
	mux := http.NewServeMux()
	op := api.Operation{ID: "op1", StatusCode: api.Running, Status: "Running"}
	mux.HandleFunc("PUT /1.0/instances/c1/state", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(op)
		reply(w, 202, api.Response{Type: api.AsyncResponse, StatusCode: 100, Operation: "/1.0/operations/op1", Metadata: b})
	})
	mux.HandleFunc("GET /1.0/operations/op1/wait", func(w http.ResponseWriter, r *http.Request) {
		done := op
		done.StatusCode, done.Status, done.Err = api.Failure, "Failure", "container \"c1\": start failed"
		syncReply(w, done)
	})
	c := fakeServer(t, mux)
	o, err := c.UpdateInstanceState(context.Background(), "c1", api.InstanceStatePut{Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "start failed") {
		t.Fatalf("wait: %v", err)
	}
}

// The exec flow: websockets in LXD's order, binary data, zero-length text EOF,
// exit code from the operation's metadata.
func TestExec(t *testing.T) {
	up := websocket.Upgrader{}
	conns := make(chan string, 8)
	var stdin bytes.Buffer
	mux := http.NewServeMux()
	opMD := map[string]any{"fds": map[string]any{"0": "s0", "1": "s1", "2": "s2", "control": "sc"}}
	mux.HandleFunc("POST /1.0/instances/c1/exec", func(w http.ResponseWriter, r *http.Request) {
		var req api.InstanceExecPost
		json.NewDecoder(r.Body).Decode(&req)
		if !req.WaitForWS || req.Command[0] != "cat" {
			t.Errorf("exec request: %+v", req)
		}
		b, _ := json.Marshal(api.Operation{ID: "e1", Class: "websocket", StatusCode: api.Running, Metadata: opMD})
		reply(w, 202, api.Response{Type: api.AsyncResponse, StatusCode: 100, Operation: "/1.0/operations/e1", Metadata: b})
	})
	ready := make(chan struct{})
	var mu gosync.Mutex
	wsByFD := map[string]*websocket.Conn{}
	mux.HandleFunc("GET /1.0/operations/e1/websocket", func(w http.ResponseWriter, r *http.Request) {
		secret := r.URL.Query().Get("secret")
		// Recorded before the handshake completes: the client dials the next
		// only after this one is up, so this is the client's order.
		conns <- secret
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		wsByFD[secret] = conn
		if len(wsByFD) == 4 {
			close(ready)
		}
	})
	mux.HandleFunc("GET /1.0/operations/e1/wait", func(w http.ResponseWriter, r *http.Request) {
		<-ready
		mu.Lock()
		defer mu.Unlock()
		in := wsByFD["s0"]
		for {
			mt, data, err := in.ReadMessage()
			if err != nil || (mt == websocket.TextMessage && len(data) == 0) {
				break
			}
			stdin.Write(data)
		}
		wsByFD["s1"].WriteMessage(websocket.BinaryMessage, []byte("out:"+stdin.String()))
		wsByFD["s1"].WriteMessage(websocket.TextMessage, nil)
		wsByFD["s2"].WriteMessage(websocket.BinaryMessage, []byte("err"))
		wsByFD["s2"].WriteMessage(websocket.TextMessage, nil)
		syncReply(w, api.Operation{ID: "e1", StatusCode: api.Success, Status: "Success", Metadata: map[string]any{"return": 7}})
	})
	c := fakeServer(t, mux)
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(context.Background(), "c1", api.InstanceExecPost{Command: []string{"cat"}},
		ExecArgs{Stdin: strings.NewReader("hello"), Stdout: &stdout, Stderr: &stderr})
	if err != nil || code != 7 || stdout.String() != "out:hello" || stderr.String() != "err" {
		t.Fatalf("exec: code %d err %v stdout %q stderr %q", code, err, stdout.String(), stderr.String())
	}
	// All four at once, in no set order (neither lodged nor LXD asks one).
	got := []string{<-conns, <-conns, <-conns, <-conns}
	sort.Strings(got)
	if strings.Join(got, ",") != "s0,s1,s2,sc" {
		t.Fatalf("websockets %v, want one each for control,0,1,2", got)
	}
}

// lodged dies while a client waits: Wait asks again until the restarted
// lodged answers with the outcome it recorded, not a broken connection.
func TestOperationWaitRidesOutARestart(t *testing.T) {
	tests := []struct {
		name     string
		drops    int // connections dropped before lodged is back
		reply    func(w http.ResponseWriter)
		patience time.Duration
		want     string
	}{
		{name: "recorded as failed", drops: 3, patience: 5 * time.Second, want: "lodged stopped while this operation was running",
			reply: func(w http.ResponseWriter) {
				syncReply(w, api.Operation{ID: "op1", StatusCode: api.Failure, Status: "Failure", Err: "lodged stopped while this operation was running"})
			}},
		{name: "ended well before the crash", drops: 1, patience: 5 * time.Second,
			reply: func(w http.ResponseWriter) {
				syncReply(w, api.Operation{ID: "op1", StatusCode: api.Success, Status: "Success"})
			}},
		{name: "forgotten", drops: 1, patience: 5 * time.Second, want: "no longer knows the operation",
			reply: func(w http.ResponseWriter) {
				reply(w, 404, api.Response{Type: api.ErrorResponse, ErrorCode: 404, Error: "operation not found"})
			}},
		{name: "never back", drops: 1 << 30, patience: 500 * time.Millisecond, want: "lodge operation show op1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func(d time.Duration) { reconnectFor = d }(reconnectFor)
			reconnectFor = tt.patience
			var calls atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("GET /1.0/operations/op1/wait", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= int64(tt.drops) {
					conn, _, _ := w.(http.Hijacker).Hijack() // killed mid-request
					conn.Close()
					return
				}
				tt.reply(w)
			})
			c := fakeServer(t, mux)
			o := &Operation{c: c, Op: api.Operation{ID: "op1"}}
			err := o.Wait(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("wait: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("wait: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// The instance list's metadata is cut out of a reply in lodged's and
// LXD's exact envelope; anything else goes to the decoder.
func TestSyncMetadata(t *testing.T) {
	for _, tc := range []struct {
		body string
		md   string
		ok   bool
	}{
		{`{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"name":"c1"}]}` + "\n", `[{"name":"c1"}]`, true},
		{`{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[]}`, `[]`, true},
		{`{"type":"error","status":"","status_code":0,"operation":"","error_code":403,"error":"no","metadata":null}`, "", false},
		{`{"status":"Success","type":"sync","status_code":200,"operation":"","error_code":0,"error":"","metadata":[]}`, "", false},
		{`{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[`, "", false},
		{`{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":}`, "", false},
	} {
		md, ok := syncMetadata([]byte(tc.body))
		if ok != tc.ok || string(md) != tc.md {
			t.Errorf("%s: got %q %v, want %q %v", tc.body, md, ok, tc.md, tc.ok)
		}
	}
}
