package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/db"
)

func renderNetwork(n daemon.Network) api.Network {
	users := []string{}
	for _, i := range n.UsedBy.Instances {
		users = append(users, daemon.InstanceURL(i))
	}
	for _, p := range n.UsedBy.Profiles {
		users = append(users, daemon.ProfileURL(p))
	}
	locs := n.Locations
	if locs == nil {
		locs = []string{"none"}
	}
	return api.Network{NetworkPut: api.NetworkPut{Config: n.Config, Description: n.Description}, Name: n.Name, Type: n.Type,
		UsedBy: users, Managed: true, Status: entityStatus(n.State), Locations: locs}
}

// networkView is a network as the request wants it: in a cluster, its
// members, and for a member's view (?target=) that member's state.
func (s *Server) networkView(r *http.Request, n daemon.Network) daemon.Network {
	if !s.d.Clustered() {
		return n
	}
	n.Locations = s.d.NetworkLocations(r.Context(), n.Name)
	if s.memberView(r) && n.MemberState != "" {
		n.State = n.MemberState
	}
	return n
}

func networkETag(n db.Network) any { return []any{n.Config, n.Description} }

func (s *Server) networksGet(r *http.Request) (response, error) {
	if recursion(r) == 0 {
		names, err := s.d.NetworkNames(r.Context())
		if err != nil {
			return nil, err
		}
		urls := []string{}
		for _, n := range names {
			urls = append(urls, daemon.NetworkURL(n))
		}
		return reply(urls), nil
	}
	nets, err := s.d.Networks(r.Context())
	if err != nil {
		return nil, err
	}
	out := []api.Network{}
	for _, n := range nets {
		out = append(out, renderNetwork(s.networkView(r, n)))
	}
	return reply(out), nil
}

func (s *Server) networkGet(r *http.Request) (response, error) {
	n, err := s.d.Network(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return replyETag(renderNetwork(s.networkView(r, n)), networkETag(n.Network)), nil
}

func (s *Server) networksPost(r *http.Request) (response, error) {
	var req api.NetworksPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	switch t := r.URL.Query().Get("target"); {
	case t != "":
		return replyEmpty(), s.d.DefineNetwork(r.Context(), req, t)
	case fromMember(r):
		// The member creating the network on every member: this one's part.
		return replyEmpty(), s.d.CreateNetworkHere(r.Context(), req.Name)
	}
	return replyEmpty(), s.d.CreateNetwork(r.Context(), req)
}

func (s *Server) networkPut(r *http.Request) (response, error)   { return s.updateNetwork(r, false) }
func (s *Server) networkPatch(r *http.Request) (response, error) { return s.updateNetwork(r, true) }

func (s *Server) updateNetwork(r *http.Request, patch bool) (response, error) {
	var req api.NetworkPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if fromMember(r) {
		// The member that changed the network's config: apply it here.
		return replyEmpty(), s.d.ApplyNetworkHere(r.Context(), r.PathValue("name"))
	}
	err := s.d.UpdateNetwork(r.Context(), r.PathValue("name"), req, daemon.Update{Patch: patch,
		IfMatch: ifMatch(r, networkETag, func(n db.Network) string { return fmt.Sprintf("network %q", n.Name) })})
	return replyEmpty(), err
}

func (s *Server) networkDelete(r *http.Request) (response, error) {
	if fromMember(r) {
		// The member deleting the network everywhere: this one's part.
		return replyEmpty(), s.d.RemoveNetworkHere(r.Context(), r.PathValue("name"))
	}
	return replyEmpty(), s.d.DeleteNetwork(r.Context(), r.PathValue("name"))
}

func (s *Server) networkState(r *http.Request) (response, error) {
	st, err := s.d.NetworkState(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := api.NetworkState{Addresses: []api.NetworkStateAddress{}, Hwaddr: st.HWAddr, Mtu: st.MTU, Type: "broadcast", State: "down",
		Counters: api.NetworkStateCounters{BytesReceived: int64(st.RxBytes), BytesSent: int64(st.TxBytes),
			PacketsReceived: int64(st.RxPackets), PacketsSent: int64(st.TxPackets)},
		Bridge: &api.NetworkStateBridge{ID: "8000." + strings.ReplaceAll(st.HWAddr, ":", ""), ForwardDelay: 1500, VLANDefault: 1,
			UpperDevices: append([]string{}, st.Ports...)}}
	if st.Up {
		out.State = "up"
	}
	for _, a := range st.Addresses {
		out.Addresses = append(out.Addresses, api.NetworkStateAddress{Family: a.Family, Address: a.Address, Netmask: strconv.Itoa(a.Prefix), Scope: a.Scope})
	}
	return reply(out), nil
}

func (s *Server) networkLeases(r *http.Request) (response, error) {
	leases, err := s.d.NetworkLeases(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := []api.NetworkLease{}
	for _, l := range leases {
		typ := "dynamic"
		if l.Static {
			typ = "static"
		}
		out = append(out, api.NetworkLease{Hostname: l.Hostname, Hwaddr: l.HWAddr, Address: l.Address, Type: typ, Location: "none"})
	}
	return reply(out), nil
}
