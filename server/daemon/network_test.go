package daemon

import "testing"

func TestNextNetworkName(t *testing.T) {
	for in, want := range map[string]string{"lodgebr0": "lodgebr1", "lodgebr9": "lodgebr10", "br": "br1", "nwit99999": "nwit100000", "abcdefghijklmn9": "abcdefghijklm10"} {
		if got := nextNetworkName(in); got != want {
			t.Errorf("nextNetworkName(%q) = %q, want %q", in, got, want)
		}
	}
}
