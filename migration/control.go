package migration

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"lodge/migration/pb"
)

// Conn is the part of a websocket connection the conversations use;
// *websocket.Conn from gorilla/websocket satisfies it. One goroutine may
// read while another writes; writes are serialised here.
type Conn interface {
	NextReader() (messageType int, r io.Reader, err error)
	WriteMessage(messageType int, data []byte) error
}

// DefaultMaxControlMessage bounds one control message: an offer header
// with thousands of snapshots and their configs stays far below it.
const DefaultMaxControlMessage = 16 << 20

// Control is the control channel: protobuf messages, one per binary
// frame. A text frame is a protocol error, as in LXD.
type Control struct {
	conn Conn
	max  int64
	wmu  sync.Mutex
}

// NewControl wraps conn; max bounds a received message (0: the default).
func NewControl(conn Conn, max int64) *Control {
	if max <= 0 {
		max = DefaultMaxControlMessage
	}
	return &Control{conn: conn, max: max}
}

// Send marshals m (required fields must be set) into one binary frame.
func (c *Control) Send(m proto.Message) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, data); err != nil {
		return fmt.Errorf("send %s on the control connection: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// Recv reads the next frame into m, refusing text frames, frames over the
// size bound and messages that lack a required field.
func (c *Control) Recv(m proto.Message) error {
	name := m.ProtoReflect().Descriptor().Name()
	mt, r, err := c.conn.NextReader()
	if err != nil {
		return fmt.Errorf("read %s from the control connection: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, c.max+1))
	if err != nil {
		return fmt.Errorf("read %s from the control connection: %w", name, err)
	}
	if mt != websocket.BinaryMessage {
		return fmt.Errorf("read %s: the peer sent a text frame on the control connection (%.200q); only binary protobuf messages are allowed", name, data)
	}
	if int64(len(data)) > c.max {
		return fmt.Errorf("read %s: message larger than %d bytes", name, c.max)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// SendResult sends the final MigrationControl: success with an empty
// message (LXD always sets the field), or failure with err's text.
func (c *Control) SendResult(err error) error {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return c.Send(&pb.MigrationControl{Success: proto.Bool(err == nil), Message: proto.String(msg)})
}

// RecvResult waits for the peer's MigrationControl and turns a failure
// into an error carrying the peer's message.
func (c *Control) RecvResult() error {
	var m pb.MigrationControl
	if err := c.Recv(&m); err != nil {
		return err
	}
	if !m.GetSuccess() {
		if m.GetMessage() == "" {
			return errors.New("the peer reported a failure without a message")
		}
		return &PeerError{Message: m.GetMessage()}
	}
	return nil
}

// PeerError is a failure the other side reported on the control channel.
type PeerError struct{ Message string }

func (e *PeerError) Error() string { return e.Message }
