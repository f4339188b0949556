package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/wsstream"
)

// ExecArgs connects an exec to local streams.
type ExecArgs struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize receives terminal sizes to forward (interactive).
	Resize <-chan [2]int // width, height
	// Signals receives signal numbers to forward to the process.
	Signals <-chan int
}

// Exec runs a command in an instance through LXD's websocket protocol and
// returns its exit code.
func (c *Client) Exec(ctx context.Context, name string, req api.InstanceExecPost, args ExecArgs) (int, error) {
	req.WaitForWS = true
	op, err := c.async(ctx, "POST", instPath(name)+"/exec", req, nil)
	if err != nil {
		return -1, err
	}
	order := []string{"control", "0", "1", "2"}
	if req.Interactive {
		order = []string{"control", "0"}
	}
	conns, err := c.dialAll(ctx, op, order)
	if err != nil {
		return -1, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var ctlMu sync.Mutex
	sendControl := func(msg api.InstanceExecControl) {
		ctlMu.Lock()
		defer ctlMu.Unlock()
		b, _ := json.Marshal(msg)
		_ = conns["control"].WriteMessage(websocket.TextMessage, b)
	}
	go func() {
		for {
			select {
			case sz, ok := <-args.Resize:
				if !ok {
					return
				}
				sendControl(api.InstanceExecControl{Command: "window-resize", Args: map[string]string{"width": strconv.Itoa(sz[0]), "height": strconv.Itoa(sz[1])}})
			case sig, ok := <-args.Signals:
				if !ok {
					return
				}
				sendControl(api.InstanceExecControl{Command: "signal", Signal: sig})
			case <-ctx.Done():
				return
			}
		}
	}()
	// Drain the control socket so pings are answered.
	go func() {
		for {
			if _, _, err := conns["control"].NextReader(); err != nil {
				return
			}
		}
	}()

	var outputs sync.WaitGroup
	if args.Stdin != nil {
		go func() { _ = wsstream.Send(conns["0"], args.Stdin); _ = wsstream.SendEOF(conns["0"]) }()
	} else {
		_ = wsstream.SendEOF(conns["0"])
	}
	if req.Interactive {
		outputs.Add(1)
		go func() { defer outputs.Done(); wsstream.Receive(conns["0"], args.Stdout) }()
	} else {
		outputs.Add(2)
		go func() { defer outputs.Done(); wsstream.Receive(conns["1"], args.Stdout) }()
		go func() { defer outputs.Done(); wsstream.Receive(conns["2"], args.Stderr) }()
	}
	waitErr := op.Wait(ctx)
	outputs.Wait()
	if waitErr != nil {
		return -1, waitErr
	}
	switch v := op.Op.Metadata["return"].(type) {
	case float64:
		return int(v), nil
	case int:
		return v, nil
	}
	return -1, errors.New("exec: the server did not report an exit code")
}

// dialAll connects an operation's websockets at once: the server starts
// the command only when every one is there, and each is a connection and
// an upgrade of its own. On an error the ones made are closed.
func (c *Client) dialAll(ctx context.Context, op *Operation, fds []string) (map[string]*websocket.Conn, error) {
	var mu sync.Mutex
	var firstErr error
	conns := make(map[string]*websocket.Conn, len(fds))
	var wg sync.WaitGroup
	for _, fd := range fds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := c.dialOp(ctx, op, fd)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns[fd] = conn
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, conn := range conns {
			conn.Close()
		}
		return nil, firstErr
	}
	return conns, nil
}
