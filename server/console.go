package server

import (
	"context"
	"errors"
	"net/http"
	"syscall"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/operations"
	"lodge/wsstream"
)

// consolePost attaches to /dev/console: fd "0" carries the terminal
// both ways, "control" carries window-resize messages, as in LXD.
func (s *Server) consolePost(r *http.Request) (response, error) {
	name := r.PathValue("name")
	var req api.InstanceConsolePost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if err := s.d.PrepareConsole(r.Context(), name, req); err != nil {
		return nil, err
	}
	sess := &execSession{fds: map[string]string{"0": newSecret(), "control": newSecret()}, conns: map[string]*websocket.Conn{}, connected: make(chan struct{})}
	fds := map[string]any{"0": sess.fds["0"], "control": sess.fds["control"]}
	spec := operations.Spec{Class: api.OperationClassWebsocket, Description: "Showing console", Resources: daemon.InstanceResources(name),
		Metadata: map[string]any{"fds": fds}, Connector: sess.connect}
	op := s.d.StartOperation(spec, func(ctx context.Context, op *operations.Op) error {
		return s.runConsole(ctx, name, req, sess)
	})
	return replyAsync(op), nil
}

func (s *Server) runConsole(ctx context.Context, name string, req api.InstanceConsolePost, sess *execSession) error {
	defer sess.closeAll()
	select {
	case <-sess.connected:
	case <-ctx.Done():
		return ctx.Err()
	}
	master, slave, err := pty.Open()
	if err != nil {
		return err
	}
	defer master.Close()
	if req.Width > 0 && req.Height > 0 {
		_ = pty.Setsize(master, &pty.Winsize{Cols: uint16(req.Width), Rows: uint16(req.Height)})
	}
	proc, err := s.d.AttachConsole(ctx, name, slave)
	slave.Close()
	if err != nil {
		return err
	}
	ws := sess.conn("0")
	// Client input to the console; when the client goes away, so does the helper.
	go func() {
		wsstream.Receive(ws, master)
		_ = proc.Signal(syscall.SIGTERM)
	}()
	go func() { _ = wsstream.Send(ws, master) }()
	// LXD's client detaches (Ctrl-a q) by closing the control websocket.
	go func() {
		s.execControl(sess.conn("control"), master, nil)
		_ = proc.Signal(syscall.SIGTERM)
	}()
	if _, err := proc.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	_ = wsstream.SendEOF(ws)
	return nil
}

func (s *Server) consoleDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.ClearConsoleLog(r.Context(), r.PathValue("name"))
}
