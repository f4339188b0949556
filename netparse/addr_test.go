package netparse

import "testing"

func TestParse(t *testing.T) {
	a, err := Parse("tcp:0.0.0.0:8080")
	if err != nil || a.Proto != "tcp" || a.Host != "0.0.0.0" || a.Port != 8080 {
		t.Fatalf("%+v %v", a, err)
	}
	if a, err := Parse("udp:[::1]:53"); err != nil || a.HostPort() != "[::1]:53" {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{"8080", "sctp:1.2.3.4:5", "tcp:1.2.3.4:0", "tcp:1.2.3.4:80-90", "tcp:example.com:80"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
