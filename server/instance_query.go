package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"lodge/api"
	"lodge/server/daemon"
)

// TotalCountHeader gives, on a queried instance list, how many instances
// match before paging (lodge_instances_query).
const TotalCountHeader = "X-Lodge-Total-Count"

// lodgeExtensions are lodge's own API extensions, announced after LXD's
// (apiExtensions): clients that know them use them, others never see a
// difference.
var lodgeExtensions = []string{
	// GET /1.0/instances?filter=&search=&sort=&limit=&offset= answers one
	// sorted page and the number of matches (X-Lodge-Total-Count).
	"lodge_instances_query",
}

func queryParams(r *http.Request) daemon.QueryParams {
	v := r.URL.Query()
	return daemon.QueryParams{Filter: v.Get("filter"), Search: v.Get("search"), Sort: v.Get("sort"), Limit: v.Get("limit"), Offset: v.Get("offset")}
}

// instancesQuery is GET /1.0/instances with a filter, search, sort or
// page: the page for the recursion level, and the number of matches.
func (s *Server) instancesQuery(r *http.Request, p daemon.QueryParams) (response, error) {
	q, err := p.Parse()
	if err != nil {
		return nil, err
	}
	if s.d.Clustered() && !fromMember(r) {
		return s.clusterQuery(r, p, q)
	}
	page, total, err := s.d.QueryInstances(r.Context(), q, detailOf(r))
	if err != nil {
		return nil, err
	}
	var md any
	switch recursion(r) {
	case 0:
		urls := make([]string, 0, len(page))
		for _, in := range page {
			urls = append(urls, daemon.InstanceURL(in.Name))
		}
		md = urls
	case 1:
		out := make([]api.Instance, 0, len(page))
		for _, in := range page {
			out = append(out, renderInstance(in))
		}
		md = out
	default:
		out := make([]api.InstanceFull, 0, len(page))
		for _, in := range page {
			out = append(out, renderFull(in))
		}
		md = out
	}
	return withHeader{reply(md), TotalCountHeader, strconv.Itoa(total)}, nil
}

func detailOf(r *http.Request) daemon.ListDetail {
	if recursion(r) > 1 {
		return daemon.DetailFull
	}
	return daemon.DetailStatus
}

// clusterQuery is a queried list on a cluster member: every member
// answers the query's head (its first offset+limit matches, in the
// query's order, at recursion 1 or 2) and how many of its instances
// match; the heads are merged in that order and the page is cut from
// the merged list. A member that is offline or does not answer within
// listDeadline answers from the database, in Error state, as in the
// plain list. Each member filters its own instances, so location (its
// name) filters as it sorts.
func (s *Server) clusterQuery(r *http.Request, p daemon.QueryParams, q daemon.InstanceQuery) (response, error) {
	ctx := r.Context()
	rec := recursion(r)
	peers, err := s.d.Peers(ctx)
	if err != nil {
		return nil, err
	}
	render := func(in daemon.Instance) json.RawMessage {
		var v any = renderInstance(in)
		if rec > 1 {
			v = renderFull(in)
		}
		b, _ := json.Marshal(v)
		return b
	}
	mine, total, err := s.d.QueryInstances(ctx, q.Head(), detailOf(r))
	if err != nil {
		return nil, err
	}
	raws := make([]json.RawMessage, 0, len(mine))
	for _, in := range mine {
		raws = append(raws, render(in))
	}
	v := url.Values{"recursion": {strconv.Itoa(max(rec, 1))}}
	for k, val := range map[string]string{"filter": p.Filter, "search": p.Search, "sort": p.Sort, "limit": q.HeadLimit()} {
		if val != "" {
			v.Set(k, val)
		}
	}
	parts, err := s.askMembers(ctx, peers, r.URL.Path+"?"+v.Encode(), func(peer daemon.Peer) memberList {
		list, n, err := s.d.QueryUnreachable(ctx, q, peer.Name)
		if err != nil {
			s.log.Warn("could not list an unreachable member's instances", "member", peer.Name, "err", err)
			return memberList{}
		}
		out := memberList{total: strconv.Itoa(n)}
		for _, in := range list {
			out.list = append(out.list, render(in))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	for _, part := range parts {
		n, err := strconv.Atoi(part.total)
		if err != nil {
			n = len(part.list)
		}
		total += n
		raws = append(raws, part.list...)
	}
	type entry struct {
		raw json.RawMessage
		in  api.Instance
	}
	entries := make([]entry, len(raws))
	for i, raw := range raws {
		entries[i].raw = raw
		_ = json.Unmarshal(raw, &entries[i].in)
	}
	sort.SliceStable(entries, func(i, j int) bool { return q.Compare(&entries[i].in, &entries[j].in) < 0 })
	lo, hi := q.Window(len(entries))
	var md any
	if rec == 0 {
		urls := make([]string, 0, hi-lo)
		for _, e := range entries[lo:hi] {
			urls = append(urls, daemon.InstanceURL(e.in.Name))
		}
		md = urls
	} else {
		out := make([]json.RawMessage, 0, hi-lo)
		for _, e := range entries[lo:hi] {
			out = append(out, e.raw)
		}
		md = out
	}
	return withHeader{reply(md), TotalCountHeader, strconv.Itoa(total)}, nil
}

// withHeader is a response with one more header.
type withHeader struct {
	response
	key, value string
}

func (r withHeader) write(w http.ResponseWriter) {
	w.Header().Set(r.key, r.value)
	r.response.write(w)
}
