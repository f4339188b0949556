// Package wsstream is LXD's byte-stream framing on websockets, shared by the
// server's exec and the client: data travels as binary frames and the end
// of a stream is a zero-length text frame.
package wsstream

import (
	"io"

	"github.com/gorilla/websocket"
)

// Send copies r to binary frames on ws until r ends; it does not send the
// end marker (callers decide when the stream is really over).
func Send(ws *websocket.Conn, r io.Reader) error {
	if ws == nil {
		// No client socket: the output is read and dropped, so the writer
		// is not blocked on a full pipe.
		_, err := io.Copy(io.Discard, r)
		return err
	}
	buf := make([]byte, 128<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// SendEOF sends the end-of-stream marker.
func SendEOF(ws *websocket.Conn) error {
	if ws == nil {
		return nil
	}
	return ws.WriteMessage(websocket.TextMessage, []byte{})
}

// Receive copies frames from ws to w until the end marker or a closed
// socket. A nil w discards; a nil ws (no socket) reads nothing.
func Receive(ws *websocket.Conn, w io.Writer) {
	if ws == nil {
		return
	}
	if w == nil {
		w = io.Discard
	}
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage && len(data) == 0 {
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
	}
}
