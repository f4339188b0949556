package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// The transport's side of events and operations across a cluster
// (daemon.ClusterTransport): a member follows another's /1.0/events over
// a websocket with the cluster certificate, which makes it a member there
// (fromMember), so that it gets that member's own events only; and it
// asks another for its operations the same way.

// memberEventsSilence is how long a member's event stream may stay
// silent (no event, no ping: the other end pings every memberPing) before
// it is taken as broken.
const memberEventsSilence = 3 * memberPing

// MemberEvents follows the events of the member at addr (its own) until
// ctx ends or the stream breaks.
func (s *Server) MemberEvents(ctx context.Context, addr string, connected func(), handle func([]byte)) error {
	cert, fp := s.d.ClusterTLS()
	if cert == nil {
		return errors.New("this server is not clustered")
	}
	dialer := websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:  memberTLS(cert, fp),
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   32 << 10,
	}
	conn, resp, err := dialer.DialContext(ctx, "wss://"+addr+"/1.0/events", nil)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("events of %s: %s", addr, resp.Status)
		}
		return fmt.Errorf("events of %s: %w", addr, err)
	}
	defer conn.Close()
	// Cancelling ctx closes the connection, which ends the read below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(memberEventsSilence)) }
	alive()
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	connected()
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("events of %s: %w", addr, err)
		}
		alive()
		handle(b)
	}
}

// MemberOperations lists the operations of the member at addr (its own:
// it serves a member its local ones).
func (s *Server) MemberOperations(ctx context.Context, addr string) ([]api.Operation, error) {
	_, fast, err := s.members()
	if err != nil {
		return nil, err
	}
	var byStatus map[string][]api.Operation
	if err := memberCall(ctx, fast, http.MethodGet, addr, "/1.0/operations?recursion=1", nil, &byStatus); err != nil {
		return nil, err
	}
	var out []api.Operation
	for _, ops := range byStatus {
		out = append(out, ops...)
	}
	return out, nil
}
