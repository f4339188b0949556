package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"lodge/errdefs"
	"lodge/server/daemon"
)

// Forwarding in a cluster, as LXD does it: a request about an instance
// (or an operation) that lives on another member is proxied there
// unchanged, websocket upgrades included; POST /1.0/instances goes to the
// member ?target= names (or the one placement picks), and so do events
// with ?target=; GET /1.0/instances asks every member. A request that
// came from another member is never forwarded again: the member that
// received it from the client decided.

// listDeadline bounds how long a list waits for a member that does not
// answer; its instances are then shown in Error state.
const listDeadline = 5 * time.Second

// forward proxies r to the member it belongs to and reports whether it
// did (false: serve it here).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, rt route) (bool, error) {
	ctx := r.Context()
	if !s.d.Clustered() {
		if t := r.URL.Query().Get("target"); t != "" && rt.method == http.MethodPost && rt.path == "/1.0/instances" {
			_, _, err := s.d.MemberByName(ctx, t)
			return false, err
		}
		return false, nil
	}
	if fromMember(r) {
		return false, nil
	}
	var peer daemon.Peer
	var remote bool
	var err error
	switch {
	case rt.method == http.MethodPost && rt.path == "/1.0/instances/{name}" && r.URL.Query().Get("target") != "":
		// A move to a member (lxc move --target): served by the target,
		// whose events the client follows, when it is online; else by
		// the instance's member, which refuses it.
		peer, remote, err = s.d.MemberByName(ctx, r.URL.Query().Get("target"))
		if err != nil || peer.Offline || peer.Evacuated {
			peer, remote, err = s.d.InstanceMember(ctx, r.PathValue("name"))
		}
	case strings.HasPrefix(rt.path, "/1.0/instances/{name}"):
		peer, remote, err = s.d.InstanceMember(ctx, r.PathValue("name"))
	case strings.HasPrefix(rt.path, "/1.0/operations/{id}"):
		peer, remote, err = s.d.OperationMember(ctx, r.PathValue("id"))
	case rt.path == "/1.0/events" && r.URL.Query().Get("target") != "":
		// A member's own events (lxc launch --target follows its
		// operation on them).
		peer, remote, err = s.d.MemberByName(ctx, r.URL.Query().Get("target"))
	case rt.method == http.MethodGet && r.URL.Query().Get("target") != "" &&
		(strings.HasPrefix(rt.path, "/1.0/storage-pools/{name}") || strings.HasPrefix(rt.path, "/1.0/networks/{name}")):
		// A member's view of a pool or network (its own keys and
		// state, its bridge's state and leases), as LXD: that member
		// answers.
		peer, remote, err = s.d.MemberByName(ctx, r.URL.Query().Get("target"))
	case rt.method == http.MethodPost && rt.path == "/1.0/instances":
		if t := r.URL.Query().Get("target"); t != "" {
			peer, remote, err = s.d.MemberByName(ctx, t)
		} else {
			peer, remote, err = s.d.PlaceInstance(ctx)
		}
	}
	if err != nil || !remote {
		return false, err
	}
	if peer.Offline {
		return false, errdefs.Unavailablef("cluster member %s (%s) is offline: it has not answered the heartbeats; bring it back or remove it (lodge cluster remove --force %s)", peer.Name, peer.Address, peer.Name)
	}
	client, _, err := s.members()
	if err != nil {
		return false, err
	}
	target := peer.Name
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: peer.Address})
			pr.Out.Host = peer.Address
			if rt.path == "/1.0/instances" {
				// The member receiving it serves it: it is the target.
				q := pr.Out.URL.Query()
				q.Set("target", target)
				pr.Out.URL.RawQuery = q.Encode()
			}
		},
		Transport:     client.Transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, errdefs.Unavailablef("cluster member %s (%s) did not answer: %v%s", peer.Name, peer.Address, err, forwardHint(rt, r)))
		},
	}
	proxy.ServeHTTP(w, r)
	return true, nil
}

// forwardHint says, for a forwarded request that died with its member,
// what became of what it was doing: a move or copy that did not finish
// leaves the source as it was and nothing on the target (which removes a
// half copy when it starts again).
func forwardHint(rt route, r *http.Request) string {
	switch {
	case rt.method == http.MethodPost && rt.path == "/1.0/instances/{name}" && r.URL.Query().Get("target") != "":
		return fmt.Sprintf("; a move that did not finish leaves instance %q whole on its member (lodge list %s shows which), and can be run again", r.PathValue("name"), r.PathValue("name"))
	case rt.method == http.MethodPost && rt.path == "/1.0/instances":
		return "; an instance it was creating or copying is removed when that member runs again, and a copy's source is unchanged: check with lodge list, then run it again"
	case strings.HasPrefix(rt.path, "/1.0/operations/{id}"):
		// A move or copy is followed here: its operation runs on the target.
		return fmt.Sprintf("; operation %s did not finish there: a move or copy it was doing leaves its source whole and nothing on that member once it runs again (lodge list shows where each instance is); run it again", r.PathValue("id"))
	}
	return ""
}

// clusterInstances is GET /1.0/instances's answer in a cluster: local
// (this member's instances at the request's recursion, 1 or 2) and every other
// member's, asked in parallel; a member that is offline or does not
// answer within listDeadline has its instances shown from the database,
// in Error state. The list is sorted by name, as a standalone one is.
func (s *Server) clusterInstances(r *http.Request, local any) (response, error) {
	ctx := r.Context()
	peers, err := s.d.Peers(ctx)
	if err != nil {
		return nil, err
	}
	mine, err := json.Marshal(local)
	if err != nil {
		return nil, err
	}
	var all []json.RawMessage
	if err := json.Unmarshal(mine, &all); err != nil {
		return nil, err
	}
	parts, err := s.askMembers(ctx, peers, r.URL.Path+"?"+r.URL.RawQuery, func(p daemon.Peer) memberList {
		return memberList{list: s.unreachable(ctx, r, p.Name)}
	})
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		all = append(all, p.list...)
	}
	return reply(sortByName(all)), nil
}

// memberList is one member's answer to a list: its entries and, for a
// query, its X-Lodge-Total-Count (how many of its instances match).
type memberList struct {
	list  []json.RawMessage
	total string
}

// askMembers sends GET path to every peer in parallel; a peer that is
// offline or does not answer within listDeadline is answered for by
// silent (from the database).
func (s *Server) askMembers(ctx context.Context, peers []daemon.Peer, path string, silent func(daemon.Peer) memberList) ([]memberList, error) {
	_, fast, err := s.members()
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, listDeadline)
	defer cancel()
	parts := make([]memberList, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []json.RawMessage
			if !p.Offline {
				h, err := memberCallHeader(lctx, fast, http.MethodGet, p.Address, path, nil, &got)
				if err == nil {
					parts[i] = memberList{list: got, total: h.Get(TotalCountHeader)}
					return
				}
				s.log.Warn("a cluster member did not answer a list: its instances show as unreachable", "member", p.Name, "err", err)
			}
			parts[i] = silent(p)
		}()
	}
	wg.Wait()
	return parts, nil
}

// unreachable renders a silent member's instances at the request's
// recursion (1 or 2), from the database, in Error state.
func (s *Server) unreachable(ctx context.Context, r *http.Request, member string) []json.RawMessage {
	list, err := s.d.UnreachableInstances(ctx, member)
	if err != nil {
		s.log.Warn("could not list an unreachable member's instances", "member", member, "err", err)
		return nil
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, in := range list {
		var v any = renderInstance(in)
		if recursion(r) > 1 {
			v = renderFull(in)
		}
		if b, err := json.Marshal(v); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// sortByName sorts list entries by their instance's name, reading each
// name once: a comparison that decoded both entries parsed the whole list
// about 2 log2(n) times (20 times for 900 instances of a few KiB each).
func sortByName(all []json.RawMessage) []json.RawMessage {
	type named struct {
		name string
		raw  json.RawMessage
	}
	es := make([]named, len(all))
	for i, m := range all {
		var in struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(m, &in)
		es[i] = named{in.Name, m}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].name < es[j].name })
	for i := range es {
		all[i] = es[i].raw
	}
	return all
}
