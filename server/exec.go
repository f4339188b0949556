package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/daemon"
	"lodge/server/operations"
	"lodge/trace"
	"lodge/wsstream"
)

// execSession is one exec operation: its websockets and the process they feed.
type execSession struct {
	fds       map[string]string // fd name ("0", "1", "2", "control") -> secret
	mu        sync.Mutex
	conns     map[string]*websocket.Conn
	connected chan struct{} // closed when every fd has connected
	closed    bool          // closeAll ran: the exec ended
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *execSession) connect(secret string, w http.ResponseWriter, r *http.Request) error {
	e.mu.Lock()
	var fd string
	for name, s := range e.fds {
		if s == secret {
			fd = name
		}
	}
	if fd == "" {
		e.mu.Unlock()
		return errdefs.Forbiddenf("websocket secret does not match this operation")
	}
	if e.closed {
		e.mu.Unlock()
		return errdefs.Invalidf("the command has ended: its websockets are closed; start a new exec")
	}
	if _, dup := e.conns[fd]; dup {
		e.mu.Unlock()
		return errdefs.Conflictf("websocket for fd %s is already connected", fd)
	}
	e.conns[fd] = nil // reserve while upgrading
	e.mu.Unlock()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		e.mu.Lock()
		delete(e.conns, fd)
		e.mu.Unlock()
		return nil // Upgrade already answered the client
	}
	_ = conn.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(5*time.Second))
	e.mu.Lock()
	if e.closed {
		// The exec ended (gave up waiting) while this one upgraded.
		e.mu.Unlock()
		conn.Close()
		return nil
	}
	e.conns[fd] = conn
	all := len(e.conns) == len(e.fds)
	for _, c := range e.conns {
		if c == nil {
			all = false
		}
	}
	e.mu.Unlock()
	if all {
		close(e.connected)
	}
	return nil
}

func (e *execSession) conn(fd string) *websocket.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns[fd]
}

// closeAll closes the websockets once the exec ended and drops them, so
// that nothing still referring to the session keeps their buffers.
func (e *execSession) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		if c != nil {
			c.Close()
		}
	}
	e.conns, e.closed = nil, true
}

func (s *Server) instanceExec(r *http.Request) (response, error) {
	name := r.PathValue("name")
	var req api.InstanceExecPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	env, err := s.d.PrepareExec(r.Context(), name, req)
	if err != nil {
		return nil, err
	}
	sess := &execSession{fds: map[string]string{}, conns: map[string]*websocket.Conn{}, connected: make(chan struct{})}
	class := api.OperationClassTask
	if req.WaitForWS {
		class = api.OperationClassWebsocket
		sess.fds["control"] = newSecret()
		sess.fds["0"] = newSecret()
		if !req.Interactive {
			sess.fds["1"] = newSecret()
			sess.fds["2"] = newSecret()
		}
	}
	md := map[string]any{"command": req.Command, "environment": env, "interactive": req.Interactive}
	if req.WaitForWS {
		fds := map[string]any{}
		for k, v := range sess.fds {
			fds[k] = v
		}
		md["fds"] = fds
	}
	spec := operations.Spec{Class: class, Description: "Executing command", Resources: daemon.InstanceResources(name), Metadata: md,
		Trace: trace.From(r.Context())}
	if req.WaitForWS {
		spec.Connector = sess.connect
	}
	op := s.d.StartOperation(spec, func(ctx context.Context, op *operations.Op) error {
		code, err := s.runExec(ctx, name, req, env, sess)
		if err != nil {
			return err
		}
		op.SetMetadata("return", code)
		return nil
	})
	return replyAsync(op), nil
}

func (s *Server) runExec(ctx context.Context, name string, req api.InstanceExecPost, env map[string]string, sess *execSession) (int, error) {
	defer sess.closeAll()
	if req.WaitForWS {
		endWS := trace.Step(ctx, "wait for the client's websockets")
		select {
		case <-sess.connected:
			endWS()
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(60 * time.Second):
			return -1, errors.New("exec: timed out waiting for the client to connect its websockets")
		}
	}
	envList := make([]string, 0, len(env))
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)
	spec := instances.ExecSpec{Argv: req.Command, Env: envList, Cwd: req.Cwd, UID: req.User, GID: req.Group}
	if spec.Cwd == "" {
		spec.Cwd = env["HOME"]
	}

	var pumps sync.WaitGroup
	var ptyMaster *os.File
	var closeAfterExit []io.Closer
	switch {
	case !req.WaitForWS:
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return -1, err
		}
		defer devnull.Close()
		spec.Stdin, spec.Stdout, spec.Stderr = devnull, devnull, devnull
	case req.Interactive:
		master, slave, err := s.d.OpenPTY(ctx, name, req.User, req.Group)
		if err != nil {
			return -1, fmt.Errorf("exec: allocate pty: %w", err)
		}
		defer master.Close()
		ptyMaster = master
		if req.Width > 0 && req.Height > 0 {
			_ = pty.Setsize(master, &pty.Winsize{Cols: uint16(req.Width), Rows: uint16(req.Height)})
		}
		spec.Stdin, spec.Stdout, spec.Stderr, spec.TTY = slave, slave, slave, true
		defer slave.Close()
		closeAfterExit = append(closeAfterExit, slave)
		ws := sess.conn("0")
		go wsstream.Receive(ws, master)
		pumps.Add(1)
		go func() { defer pumps.Done(); _ = wsstream.Send(ws, master) }()
	default:
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		stdoutR, stdoutW, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		stderrR, stderrW, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		defer stdinW.Close()
		defer stdoutR.Close()
		defer stderrR.Close()
		spec.Stdin, spec.Stdout, spec.Stderr = stdinR, stdoutW, stderrW
		closeAfterExit = append(closeAfterExit, stdinR, stdoutW, stderrW)
		// The sockets are taken now, not in the goroutines: once the exec
		// ends, closeAll drops them, and a pump that started late got nil
		// (a nil-pointer panic that took lodged down).
		in, out, errOut := sess.conn("0"), sess.conn("1"), sess.conn("2")
		go func() { wsstream.Receive(in, stdinW); stdinW.Close() }()
		pumps.Add(2)
		go func() { defer pumps.Done(); _ = wsstream.Send(out, stdoutR) }()
		go func() { defer pumps.Done(); _ = wsstream.Send(errOut, stderrR) }()
	}

	endStart := trace.Step(ctx, "start the process")
	proc, err := s.d.Exec(ctx, name, spec)
	endStart()
	// Our copies of the child's ends must close so EOF reaches the pumps.
	for _, c := range closeAfterExit {
		c.Close()
	}
	if err != nil {
		return -1, err
	}
	if req.WaitForWS {
		go s.execControl(sess.conn("control"), ptyMaster, proc)
	}
	endRun := trace.Step(ctx, "the process runs")
	code, err := proc.Wait(ctx)
	endRun()
	if err != nil {
		return -1, err
	}
	defer trace.Step(ctx, "drain its output, end the streams")()
	// Output still buffered in the pipes is flushed; a background child that
	// keeps them open does not hold the exec forever.
	done := make(chan struct{})
	go func() { pumps.Wait(); close(done) }()
	drained := true
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		drained = false
	}
	if req.WaitForWS && drained {
		outs := []string{"1", "2"}
		if req.Interactive {
			outs = []string{"0"}
		}
		// Like a shell, say why an exit status of 127 happened; liblxc's
		// attach exits 127 silently when the command does not exist.
		if code == 127 && s.d.CommandMissing(ctx, name, req.Command[0], env["PATH"]) {
			msg := fmt.Sprintf("lodge: %s: command not found in instance %q\n", req.Command[0], name)
			_ = sess.conn(outs[len(outs)-1]).WriteMessage(websocket.BinaryMessage, []byte(msg))
		}
		// LXD's end-of-stream marker: a zero-length text frame.
		for _, fd := range outs {
			_ = wsstream.SendEOF(sess.conn(fd))
		}
	}
	return code, nil
}

// execControl handles window-resize and signal messages on the control socket.
func (s *Server) execControl(ws *websocket.Conn, ptyMaster *os.File, proc instances.Process) {
	if ws == nil {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var msg api.InstanceExecControl
		if err := json.Unmarshal(data, &msg); err != nil {
			s.log.Debug("exec control: bad message", "err", err)
			continue
		}
		switch msg.Command {
		case "window-resize":
			if ptyMaster == nil {
				continue
			}
			w, _ := strconv.Atoi(msg.Args["width"])
			h, _ := strconv.Atoi(msg.Args["height"])
			if w > 0 && h > 0 {
				_ = pty.Setsize(ptyMaster, &pty.Winsize{Cols: uint16(w), Rows: uint16(h)})
			}
		case "signal":
			if proc != nil && msg.Signal > 0 {
				_ = proc.Signal(syscall.Signal(msg.Signal))
			}
		}
	}
}
