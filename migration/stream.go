package migration

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/gorilla/websocket"
)

// fsStream is LXD's WebsocketIO framing on the fs connection: every Write
// is one binary frame, the end of one direction of one exchange (the index
// header, its reply, one rsync run) is an empty text frame, and the socket
// is then reused for the next exchange.
type fsStream struct {
	conn Conn
	wmu  sync.Mutex
}

func newFSStream(conn Conn) *fsStream { return &fsStream{conn: conn} }

// Write sends p as one binary frame.
func (s *fsStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite ends this direction of the current exchange.
func (s *fsStream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, []byte{})
}

// reader returns the incoming side of one exchange: binary frames until a
// text frame, which reads as io.EOF (and stays EOF).
func (s *fsStream) reader() io.Reader { return &frameReader{conn: s.conn} }

type frameReader struct {
	conn Conn
	cur  io.Reader
	eof  bool
}

func (r *frameReader) Read(p []byte) (int, error) {
	for {
		if r.eof {
			return 0, io.EOF
		}
		if r.cur == nil {
			mt, rd, err := r.conn.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				// LXD reads any text frame as the end; its content is not data.
				r.eof = true
				return 0, io.EOF
			}
			r.cur = rd
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// sendJSON sends v as one exchange (what names it in errors).
func (s *fsStream) sendJSON(v any, what string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if _, err := s.Write(data); err != nil {
		return fmt.Errorf("send %s: %w", what, err)
	}
	if err := s.CloseWrite(); err != nil {
		return fmt.Errorf("send %s: %w", what, err)
	}
	return nil
}

// recvJSON reads one exchange of at most max bytes into v.
func (s *fsStream) recvJSON(v any, max int64, what string) error {
	data, err := io.ReadAll(io.LimitReader(s.reader(), max+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > max {
		return fmt.Errorf("%s is larger than %d bytes", what, max)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}
