package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"lodge/errdefs"
)

var upgrader = websocket.Upgrader{
	// The unix socket has no origin to check; HTTPS (later) will authenticate by TLS client certificate.
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (s *Server) events(r *http.Request) (response, error) {
	types := map[string]bool{}
	if t := r.URL.Query().Get("type"); t != "" {
		for _, k := range strings.Split(t, ",") {
			switch k {
			case "operation", "logging", "lifecycle":
				types[k] = true
			default:
				return nil, errdefs.Invalidf("unknown event type %q (use operation, logging, lifecycle)", k)
			}
		}
	}
	return stream(func(w http.ResponseWriter) { s.streamEvents(w, r, types) }), nil
}

// How often an event stream is pinged: a client's, and another member's,
// which reads a stream silent for memberEventsSilence as broken and
// dials again.
const (
	clientPing = 30 * time.Second
	memberPing = 10 * time.Second
)

// streamEvents sends the events of types (all if empty) on a websocket
// until the client or lodged goes away. In a cluster they are every
// member's (cluster_events.go in the daemon), except for another member,
// which follows each member itself and gets this one's own only, and for
// a client that targets this member (?target=, which another member
// forwards here).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, types map[string]bool) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	subscribe, ping := s.d.SubscribeEvents, clientPing
	if fromMember(r) {
		subscribe, ping = s.d.SubscribeOwnEvents, memberPing
	} else if r.URL.Query().Get("target") != "" && s.d.Clustered() {
		subscribe = s.d.SubscribeOwnEvents
	}
	events, unsubscribe := subscribe(types)
	defer unsubscribe()
	// LXD pings "keepalive" at once; its client answers with a pong.
	_ = conn.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(5*time.Second))
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(ping)
	defer tick.Stop()
	for {
		select {
		case b := <-events:
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-tick.C:
			if err := conn.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(5*time.Second)); err != nil {
				return
			}
		case <-closed:
			return
		case <-s.d.Stopping():
			return
		}
	}
}
