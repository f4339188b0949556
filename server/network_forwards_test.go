package server

import (
	"encoding/json"
	"strings"
	"testing"

	"lodge/api"
)

// Network forwards through the API: created, listed, read with an ETag,
// patched, refused when invalid (nothing stored), rendered into the
// network the driver is told about, and gone with their network.
func TestNetworkForwardsAPI(t *testing.T) {
	e, nd := newNetEnv(t)
	for _, body := range []string{`{"name":"fw0","config":{"ipv4.address":"10.7.0.1/24","ipv6.address":"fd42:7::1/64"}}`,
		`{"name":"fw1","config":{"ipv4.address":"10.8.0.1/24"}}`} {
		if code, r, _ := e.do(t, "POST", "/1.0/networks", body); code != 200 {
			t.Fatalf("network: %d %s", code, r.Error)
		}
	}
	code, r, hdr := e.do(t, "POST", "/1.0/networks/fw0/forwards", `{"listen_address":"198.51.100.20","config":{"target_address":"10.7.0.5"},
		"ports":[{"protocol":"tcp","listen_port":"80,8000-8001","target_port":"8080,9000-9001","target_address":"10.7.0.6"}]}`)
	if code != 200 || hdr.Get("Location") != "/1.0/networks/fw0/forwards/198.51.100.20" {
		t.Fatalf("create: %d %s %v", code, r.Error, hdr)
	}
	if n, _ := nd.Get("fw0"); len(n.Forwards) != 1 || n.Forwards[0].Config["target_address"] != "10.7.0.5" || len(n.Forwards[0].Ports) != 1 {
		t.Fatalf("driver's forwards: %+v", n.Forwards)
	}
	refused := map[string]string{
		`{"listen_address":"198.51.100.20"}`:                                        "already exists",
		`{"listen_address":"10.7.0.9"}`:                                             "inside the network's own subnet",
		`{"listen_address":"198.51.100.21","config":{"target_address":"10.8.0.5"}}`: "not in the network's subnet",
		`{"listen_address":"198.51.100.21","ports":[{"protocol":"sctp","listen_port":"80","target_address":"10.7.0.5"}]}`:                         "must be tcp or udp",
		`{"listen_address":"198.51.100.21","ports":[{"protocol":"tcp","listen_port":"80,81","target_port":"1,2,3","target_address":"10.7.0.5"}]}`: "2 listen ports but 3 target ports",
		`{"listen_address":"nope"}`:                                               "must be a unicast",
		`{"listen_address":"198.51.100.21","config":{"bogus":"1"}}`:               `config key "bogus" is not supported`,
		`{"listen_address":"2001:db8::1","config":{"target_address":"10.7.0.5"}}`: "is not IPv6",
	}
	for body, want := range refused {
		if code, r, _ := e.do(t, "POST", "/1.0/networks/fw0/forwards", body); code/100 != 4 || !strings.Contains(r.Error, want) {
			t.Errorf("%s: %d %q, want %q", body, code, r.Error, want)
		}
	}
	// The listen address belongs to one network.
	if code, r, _ := e.do(t, "POST", "/1.0/networks/fw1/forwards", `{"listen_address":"198.51.100.20","config":{"target_address":"10.8.0.5"}}`); code != 400 || !strings.Contains(r.Error, `network "fw0" forwards that listen address`) {
		t.Fatalf("same listen on fw1: %d %s", code, r.Error)
	}
	if code, r, _ := e.do(t, "POST", "/1.0/networks/fw0/forwards", `{"listen_address":"2001:db8:0:0::7","config":{"target_address":"fd42:7::5"}}`); code != 200 {
		t.Fatalf("IPv6 forward: %d %s", code, r.Error)
	}
	_, r, _ = e.do(t, "GET", "/1.0/networks/fw0/forwards", "")
	var urls []string
	json.Unmarshal(r.Metadata, &urls)
	if strings.Join(urls, " ") != "/1.0/networks/fw0/forwards/198.51.100.20 /1.0/networks/fw0/forwards/2001:db8::7" {
		t.Fatalf("list: %v", urls)
	}
	code, r, hdr = e.do(t, "GET", "/1.0/networks/fw0/forwards/198.51.100.20", "")
	var f api.NetworkForward
	json.Unmarshal(r.Metadata, &f)
	if code != 200 || f.ListenAddress != "198.51.100.20" || f.Ports[0].TargetPort != "8080,9000-9001" || hdr.Get("Etag") == "" {
		t.Fatalf("get: %d %+v", code, f)
	}
	etag := hdr.Get("Etag")
	if code, r, _ := e.do(t, "PATCH", "/1.0/networks/fw0/forwards/198.51.100.20", `{"description":"web","config":{"target_address":"10.7.0.99"}}`, "If-Match", etag); code != 200 {
		t.Fatalf("patch: %d %s", code, r.Error)
	}
	if code, _, _ := e.do(t, "PUT", "/1.0/networks/fw0/forwards/198.51.100.20", `{"config":{}}`, "If-Match", etag); code != 412 {
		t.Fatalf("stale ETag: %d", code)
	}
	_, r, _ = e.do(t, "GET", "/1.0/networks/fw0/forwards/198.51.100.20", "")
	json.Unmarshal(r.Metadata, &f)
	if f.Description != "web" || f.Config["target_address"] != "10.7.0.99" || len(f.Ports) != 1 {
		t.Fatalf("after patch (ports kept): %+v", f)
	}
	if n, _ := nd.Get("fw0"); len(n.Forwards) != 2 {
		t.Fatalf("driver's forwards: %+v", n.Forwards)
	}
	// A subnet change that would orphan a forward is refused.
	if code, r, _ := e.do(t, "PATCH", "/1.0/networks/fw0", `{"config":{"ipv4.address":"10.77.0.1/24"}}`); code != 400 || !strings.Contains(r.Error, "change or delete the forward first") {
		t.Fatalf("orphaning subnet change: %d %s", code, r.Error)
	}
	if code, r, _ := e.do(t, "DELETE", "/1.0/networks/fw0/forwards/2001:db8::7", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, r.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/networks/fw0/forwards/2001:db8::7", ""); code != 404 {
		t.Fatalf("deleted forward: %d", code)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/networks/nosuch/forwards", ""); code != 404 {
		t.Fatalf("forwards of a missing network: %d", code)
	}
	if code, r, _ := e.do(t, "DELETE", "/1.0/networks/fw0", ""); code != 200 {
		t.Fatalf("delete network: %d %s", code, r.Error)
	}
	// The listen address is free again for another network.
	if code, r, _ := e.do(t, "POST", "/1.0/networks/fw1/forwards", `{"listen_address":"198.51.100.20","config":{"target_address":"10.8.0.5"}}`); code != 200 {
		t.Fatalf("listen address after its network went: %d %s", code, r.Error)
	}
}
