package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"lodge/netparse"
)

// NICLimits are a NIC's bandwidth limits in bits per second, 0 for none,
// from the instance's point of view as in LXD: Ingress is what the
// instance receives (limits.ingress), Egress what it sends (limits.egress);
// limits.max sets both.
type NICLimits struct {
	Ingress, Egress uint64
}

// NICLimiter is implemented by drivers that shape a NIC's traffic on its
// host-side interface (a veth: bridged, network= and routed NICs). Limits
// take effect at once on a running instance.
type NICLimiter interface {
	// SetNICLimits replaces the NIC's limits (idempotent); zero limits
	// remove them and what they needed, even when the host interface is
	// gone (a stopped instance).
	SetNICLimits(ctx context.Context, hostName string, l NICLimits) error
	// LimitedNICs lists the host names whose egress shaping left an ifb
	// device (to clear those of NICs that no longer exist).
	LimitedNICs(ctx context.Context) ([]string, error)
}

// NICLimitsFor reads limits.ingress, limits.egress and limits.max.
func NICLimitsFor(dev map[string]string) (NICLimits, error) {
	var l NICLimits
	var err error
	if l.Ingress, err = ParseBitRate(dev["limits.ingress"]); err != nil {
		return l, Invalidf("limits.ingress: %v", err)
	}
	if l.Egress, err = ParseBitRate(dev["limits.egress"]); err != nil {
		return l, Invalidf("limits.egress: %v", err)
	}
	if dev["limits.max"] != "" {
		m, err := ParseBitRate(dev["limits.max"])
		if err != nil {
			return l, Invalidf("limits.max: %v", err)
		}
		l.Ingress, l.Egress = m, m
	}
	return l, nil
}

// ParseBitRate parses a rate the way LXD does (netparse.ParseBitRate).
func ParseBitRate(s string) (uint64, error) { return netparse.ParseBitRate(s) }

// IFBName is the ifb device that carries a NIC's egress shaping: the
// traffic the instance sends arrives on the host interface, and a kernel
// shapes only what leaves an interface, so it is redirected through an
// ifb and shaped there. Derived from the host name, so it is found again
// after a restart or once the instance's veth is gone.
func IFBName(hostName string) string {
	sum := sha256.Sum256([]byte("lodge ifb " + hostName))
	return "lifb" + hex.EncodeToString(sum[:])[:11]
}

// IFBAlias marks an ifb device as a NIC's (ip -d link shows it).
func IFBAlias(hostName string) string { return "lodge limits " + hostName }

// IFBHost is the host name an IFBAlias names, "" for another alias.
func IFBHost(alias string) string {
	h, ok := strings.CutPrefix(alias, "lodge limits ")
	if !ok {
		return ""
	}
	return h
}
