package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/errdefs"
)

// eventHub fans events out to /1.0/events listeners. A slow listener loses
// events rather than stalling the daemon.
type eventHub struct {
	mu   sync.Mutex
	subs map[*eventSub]struct{}
}

type eventSub struct {
	types map[string]bool // empty: all
	ch    chan []byte
}

func newEventHub() *eventHub { return &eventHub{subs: map[*eventSub]struct{}{}} }

func (h *eventHub) send(kind string, metadata any) {
	md, err := json.Marshal(metadata)
	if err != nil {
		return
	}
	b, _ := json.Marshal(api.Event{Type: kind, Timestamp: time.Now().UTC(), Metadata: md, Location: "none", Project: "default"})
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if len(s.types) > 0 && !s.types[kind] {
			continue
		}
		select {
		case s.ch <- b:
		default:
		}
	}
}

func (h *eventHub) lifecycle(action, source string, ctx map[string]any) {
	h.send("lifecycle", api.EventLifecycle{Action: action, Source: source, Context: ctx})
}

var upgrader = websocket.Upgrader{
	// The unix socket has no origin to check; HTTPS (later) will authenticate by TLS client certificate.
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	sub := &eventSub{types: map[string]bool{}, ch: make(chan []byte, 1024)}
	if t := r.URL.Query().Get("type"); t != "" {
		for _, k := range strings.Split(t, ",") {
			switch k {
			case "operation", "logging", "lifecycle":
				sub.types[k] = true
			default:
				writeError(w, errdefs.Invalidf("unknown event type %q (use operation, logging, lifecycle)", k))
				return
			}
		}
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	s.d.events.mu.Lock()
	s.d.events.subs[sub] = struct{}{}
	s.d.events.mu.Unlock()
	defer func() {
		s.d.events.mu.Lock()
		delete(s.d.events.subs, sub)
		s.d.events.mu.Unlock()
	}()
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
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case b := <-sub.ch:
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
		case <-s.d.ctx.Done():
			return
		}
	}
}
