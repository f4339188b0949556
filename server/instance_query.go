package server

import (
	"net/http"
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
	detail := daemon.DetailStatus
	if recursion(r) > 1 {
		detail = daemon.DetailFull
	}
	page, total, err := s.d.QueryInstances(r.Context(), q, detail)
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

// withHeader is a response with one more header.
type withHeader struct {
	response
	key, value string
}

func (r withHeader) write(w http.ResponseWriter) {
	w.Header().Set(r.key, r.value)
	r.response.write(w)
}
