package wsstream

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// A stream crosses a websocket as binary frames and ends with the marker;
// frames after the marker are not read as data.
func TestSendReceive(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var buf bytes.Buffer
		Receive(c, &buf)
		got <- buf.String()
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("x", 300<<10) // several frames
	if err := Send(c, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if err := SendEOF(c); err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("after the end"))
	if s := <-got; s != big {
		t.Fatalf("received %d bytes, want %d", len(s), len(big))
	}
}

// A stream whose socket is gone (nil: the exec ended and dropped its
// sockets) ends quietly: the input side reads nothing, the output side
// drains its reader, the end marker is skipped. A panic here took lodged
// down when an exec's stdin pump started after the exec had ended.
func TestNilSocket(t *testing.T) {
	var got strings.Builder
	Receive(nil, &got)
	if got.Len() != 0 {
		t.Fatalf("Receive(nil) wrote %q", got.String())
	}
	r := strings.NewReader("output nobody reads")
	if err := Send(nil, r); err != nil || r.Len() != 0 {
		t.Fatalf("Send(nil): %v, %d bytes left unread", err, r.Len())
	}
	if err := SendEOF(nil); err != nil {
		t.Fatalf("SendEOF(nil): %v", err)
	}
}
