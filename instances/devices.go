package instances

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"lodge/api"
	"lodge/netparse"
)

// DeviceKey describes one key of a device type, as Key does for instance
// config keys. Key names and meanings are LXD's.
type DeviceKey struct {
	// Type is what the value is: string, bool, integer, size or address.
	Type    string
	Default string
	// Live keys take effect on a running instance at once; the others at its next start.
	Live     bool
	Validate func(string) error
	// Values, if set, are the only values taken (Validate may then be nil).
	Values []string
	Doc    string
	// Kinds limits the key to some kinds of its device (api.DeviceKind):
	// a nic's "bridged", "macvlan" or "network"; a disk's "root" or
	// "mount". Empty means every kind.
	Kinds []string
}

// DeviceKind documents one kind of a device type.
type DeviceKind struct{ Name, Doc string }

// DeviceType is the schema of one device type.
type DeviceType struct {
	Doc  string
	Keys map[string]DeviceKey
	// Kinds are the flavours of the type that decide which keys apply.
	Kinds []DeviceKind
	// NotYet are LXD's keys of this type that lodge does not implement
	// yet: refused with "not supported yet", never stored and ignored.
	NotYet []string
	// NotYetValues are LXD's values of a key that lodge does not implement yet.
	NotYetValues map[string][]string
	// first are checked before the other keys: they decide the kind.
	first []string
	// check applies the rules that span keys (required keys, a host path
	// that must exist) to a device whose keys are each valid.
	check func(name string, d map[string]string) error
}

// Devices is the registry of device types and their keys. Every write of
// an instance's or a profile's devices is checked against it
// (ValidateDevices); GET /1.0/metadata/configuration serves it.
var Devices = map[string]DeviceType{
	"nic": {
		Doc: "a network interface: a veth on a host bridge or lodge-managed network, a macvlan on a host NIC, or a routed veth",
		Kinds: []DeviceKind{
			{"bridged", "nictype=bridged: a veth pair on an existing host bridge (parent=)"},
			{"macvlan", "nictype=macvlan: a macvlan interface on a host NIC (parent=)"},
			{"network", "network=NAME: a veth on a lodge-managed network (lodge network list)"},
			{"routed", "nictype=routed: a veth whose addresses (ipv4.address, ipv6.address) the host routes to it, answering ARP/NDP for them on parent= if given"},
		},
		Keys: map[string]DeviceKey{
			"nictype": {Type: "string", Live: true, Values: []string{"bridged", "macvlan", "routed"},
				Doc: "bridged or macvlan (with parent=), or routed (with ipv4.address/ipv6.address); not with network=, which decides the type"},
			"network": {Type: "string", Live: true, Validate: isNonEmpty, Kinds: []string{"network"},
				Doc: "the lodge-managed network to join (instead of nictype= and parent=)"},
			"parent": {Type: "string", Live: true, Validate: isHostInterface, Kinds: []string{"bridged", "macvlan", "routed"},
				Doc: "the host bridge (bridged), host NIC (macvlan), or the host NIC that answers ARP/NDP for a routed NIC's addresses"},
			"name": {Type: "string", Default: "the device name", Live: true, Validate: isInterfaceName,
				Doc: "the interface's name inside the instance"},
			"hwaddr": {Type: "string", Default: "random, kept in volatile.DEVICE.hwaddr", Live: true, Validate: isMAC,
				Doc: "the interface's MAC address"},
			"mtu": {Type: "integer", Default: "the parent's (network=: its bridge.mtu)", Live: true, Validate: isRange(68, 65535),
				Doc: "the interface's MTU"},
			"host_name": {Type: "string", Default: "veth + a hash of instance and device", Live: true, Validate: isInterfaceName,
				Kinds: nicKindsWithVeth, Doc: "the host-side veth's name"},
			"ipv4.address": {Type: "address", Live: true, Validate: isIPv4, Kinds: nicKindsWithVeth,
				Doc: "network= or bridged on a lodge-managed network: a static DHCP reservation (the instance gets it at its next lease) and the address IPv4 filtering allows; routed: the instance's addresses (comma-separated)"},
			"ipv6.address": {Type: "address", Live: true, Validate: isIPv6List, Kinds: nicKindsWithVeth,
				Doc: "network= or bridged: a static DHCPv6 reservation (stateful DHCPv6) and the address IPv6 filtering allows; routed: the instance's addresses (comma-separated)"},
			"security.mac_filtering": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"bridged", "network"},
				Doc: "drop frames from the instance that do not carry its MAC address (the host-side port is filtered)"},
			"security.ipv4_filtering": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"bridged", "network"},
				Doc: "drop ARP and IPv4 from the instance with another source than its address (ipv4.address, else its DHCP reservation); implies MAC filtering"},
			"security.ipv6_filtering": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"bridged", "network"},
				Doc: "drop NDP and IPv6 from the instance with another source than its address (ipv6.address, else its SLAAC or DHCPv6 address) and router advertisements; implies MAC filtering"},
			"security.port_isolation": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"bridged", "network"},
				Doc: "isolate the bridge port: the instance reaches the host and non-isolated ports, never other isolated ones"},
			"limits.ingress": {Type: "string", Live: true, Validate: isBitRate, Kinds: nicKindsWithVeth,
				Doc: "bandwidth limit for what the instance receives, in bit/s (50Mbit, 1Gbit)"},
			"limits.egress": {Type: "string", Live: true, Validate: isBitRate, Kinds: nicKindsWithVeth,
				Doc: "bandwidth limit for what the instance sends, in bit/s (50Mbit, 1Gbit)"},
			"limits.max": {Type: "string", Live: true, Validate: isBitRate, Kinds: nicKindsWithVeth,
				Doc: "limits.ingress and limits.egress at once"},
		},
		NotYet: []string{
			"boot.priority", "gvrp", "ipv4.routes", "ipv4.routes.external", "ipv6.routes", "ipv6.routes.external",
			"maas.subnet.ipv4", "maas.subnet.ipv6", "queue.tx.length", "vlan", "vlan.tagged",
			// Keys of routed NICs and of the NIC types lodge does not have yet (ipvlan, ovn, sriov, physical, p2p).
			"ipv4.gateway", "ipv4.host_address", "ipv4.host_table", "ipv4.neighbor_probe",
			"ipv6.gateway", "ipv6.host_address", "ipv6.host_table", "ipv6.neighbor_probe",
			"mode", "security.acls", "security.acls.default.egress.action", "security.acls.default.egress.logged",
			"security.acls.default.ingress.action", "security.acls.default.ingress.logged", "acceleration", "nested",
		},
		NotYetValues: map[string][]string{"nictype": {"ipvlan", "p2p", "physical", "sriov", "ovn"}},
		first:        []string{"nictype", "network"},
		check:        checkNIC,
	},
	"disk": {
		Doc: "the root disk (path=/), or a host path or custom volume mounted into the instance",
		Kinds: []DeviceKind{
			{"root", "path=/: the instance's root filesystem, on a storage pool"},
			{"mount", "path=DIR: a host path (source=) or custom volume (pool= source=) mounted at DIR"},
		},
		Keys: map[string]DeviceKey{
			"path": {Type: "string", Validate: isDiskPath, Doc: "where it is mounted inside the instance (/ for the root disk)"},
			"source": {Type: "string", Validate: isDiskSource, Kinds: []string{"mount"},
				Doc: "an absolute host path, or with pool= the name of a custom volume"},
			"pool": {Type: "string", Validate: isNonEmpty,
				Doc: "the storage pool of the root disk or of the custom volume source="},
			"readonly": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"mount"},
				Doc: "mount it read-only"},
			"shift": {Type: "bool", Default: "false", Live: true, Values: []string{"true", "false"}, Kinds: []string{"mount"},
				Doc: "an idmapped mount: a file owned by host id N shows as id N inside an unprivileged instance (LXD's shift)"},
			"required": {Type: "bool", Default: "true", Values: []string{"true", "false"}, Kinds: []string{"mount"},
				Doc: "false: a missing host path is skipped at start instead of failing it"},
			"size": {Type: "size", Live: true, Validate: isDiskSize, Kinds: []string{"root"},
				Doc: "a size limit for the root volume (20GiB; btrfs pools only)"},
		},
		NotYet: []string{"boot.priority", "ceph.cluster_name", "ceph.user_name", "io.cache", "limits.max", "limits.read",
			"limits.write", "propagation", "raw.mount.options", "recursive", "size.state"},
		first: []string{"path"},
		check: checkDisk,
	},
	"proxy": {
		Doc: "a port forward: lodged listens on the host and connects inside the instance",
		Keys: map[string]DeviceKey{
			"listen": {Type: "string", Live: true, Validate: isProxyAddr,
				Doc: "the host address: tcp:ADDRESS:PORT or udp:ADDRESS:PORT"},
			"connect": {Type: "string", Live: true, Validate: isProxyAddr,
				Doc: "the address inside the instance: tcp:ADDRESS:PORT or udp:ADDRESS:PORT"},
			"bind": {Type: "string", Default: "host", Live: true, Values: []string{"host"},
				Doc: "which side listens: host (listen on the host, connect in the instance)"},
		},
		NotYet:       []string{"gid", "mode", "nat", "proxy_protocol", "security.gid", "security.uid", "uid"},
		NotYetValues: map[string][]string{"bind": {"instance"}},
		check:        checkProxy,
	},
}

// nicKindsWithVeth are the NIC kinds with a host-side veth: filtering
// needs a bridge port, limits and host_name a veth.
var nicKindsWithVeth = []string{"bridged", "network", "routed"}

// DeviceTypesNotYet are LXD's device types lodge does not implement yet.
var DeviceTypesNotYet = []string{"gpu", "infiniband", "none", "pci", "tpm", "unix-block", "unix-char", "unix-hotplug", "usb"}

// DeviceTypeNames lists the device types lodge implements, sorted.
func DeviceTypeNames() []string {
	return slices.Sorted(maps.Keys(Devices))
}

// SupportedKeys lists the keys of a device type besides type=, sorted.
func (dt DeviceType) SupportedKeys() []string {
	return slices.Sorted(maps.Keys(dt.Keys))
}

func (dt DeviceType) kindDoc(kind string) string {
	switch kind {
	case "bridged", "macvlan", "routed":
		return "nictype=" + kind + " NICs"
	case "network":
		return "NICs with network="
	case "root":
		return "the root disk (path=/)"
	case "mount":
		return "disks other than the root disk"
	}
	return kind + " devices"
}

// ValidateDevices checks devices (by name) against the registry. prev holds
// the devices as they were in effect before this write (for an instance its
// expanded devices, profiles included; for a profile its stored devices);
// see ValidateDevice for what it spares.
func ValidateDevices(devs, prev map[string]map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(devs)) {
		if err := ValidateDevice(name, devs[name], prev[name]); err != nil {
			return err
		}
	}
	return nil
}

// ValidateDevice checks one device. Validation happens when a device is
// written, never when it is used: a device equal to prev is not checked
// again, nor is a key prev holds with the same value on a device of the
// same kind. So a device stored before lodge refused one of its keys keeps
// working and can still be edited (config show marks such keys), and
// overriding a profile's device copies it as it is.
func ValidateDevice(name string, d, prev map[string]string) error {
	if prev != nil && maps.Equal(d, prev) {
		return nil
	}
	typ := d["type"]
	dt, ok := Devices[typ]
	switch {
	case typ == "":
		return Invalidf("device %q: missing type= (lodge supports %s)", name, strings.Join(DeviceTypeNames(), ", "))
	case slices.Contains(DeviceTypesNotYet, typ):
		return Invalidf("device %q: device type %q is not supported yet (lodge supports %s)", name, typ, strings.Join(DeviceTypeNames(), ", "))
	case !ok:
		return Invalidf("device %q: unknown device type %q (lodge supports %s)", name, typ, strings.Join(DeviceTypeNames(), ", "))
	}
	kind := api.DeviceKind(d)
	sameKind := prev != nil && prev["type"] == typ && api.DeviceKind(prev) == kind
	keys := slices.Sorted(maps.Keys(d))
	sort.SliceStable(keys, func(i, j int) bool { return slices.Contains(dt.first, keys[i]) && !slices.Contains(dt.first, keys[j]) })
	for _, k := range keys {
		if k == "type" {
			continue
		}
		if pv, ok := prev[k]; ok && sameKind && pv == d[k] {
			continue
		}
		if err := dt.checkKey(name, typ, kind, k, d[k]); err != nil {
			return err
		}
	}
	if dt.check != nil {
		if err := dt.check(name, d); err != nil {
			return Invalidf("device %q: %v", name, err)
		}
	}
	return nil
}

func (dt DeviceType) checkKey(name, typ, kind, k, v string) error {
	def, ok := dt.Keys[k]
	if !ok {
		yet := ""
		if slices.Contains(dt.NotYet, k) {
			yet = " yet"
		}
		return Invalidf("device %q: key %q is not supported%s on %s devices (supported: %s; see lodge config device keys %s)",
			name, k, yet, typ, strings.Join(dt.SupportedKeys(), ", "), typ)
	}
	if slices.Contains(dt.NotYetValues[k], v) {
		return Invalidf("device %q: %s=%s is not supported yet on %s devices (supported: %s)", name, k, v, typ, strings.Join(def.Values, ", "))
	}
	// A nic with neither nictype= nor network= has no kind yet: check says so.
	if len(def.Kinds) > 0 && kind != "" && !slices.Contains(def.Kinds, kind) {
		docs := make([]string, 0, len(def.Kinds))
		for _, kd := range def.Kinds {
			docs = append(docs, dt.kindDoc(kd))
		}
		return Invalidf("device %q: key %q does not apply to %s; it applies to %s", name, k, dt.kindDoc(kind), strings.Join(docs, " and "))
	}
	validate := def.Validate
	if validate == nil {
		validate = oneOf(def.Values...)
	}
	if err := validate(v); err != nil {
		return Invalidf("device %q: key %q: invalid value %q: %v", name, k, v, err)
	}
	return nil
}

func checkNIC(_ string, d map[string]string) error {
	for _, fam := range []string{"ipv4", "ipv6"} {
		k := fam + ".address"
		if d["nictype"] != "routed" && strings.Contains(d[k], ",") {
			// Outside routed NICs an address key is one reservation.
			return fmt.Errorf("%s takes one address here (lists are for nictype=routed)", k)
		}
		if d[k] == "none" && (d["nictype"] == "routed" || !IsTrue(d["security."+fam+"_filtering"])) {
			return fmt.Errorf("%s=none (no %s address allowed) needs security.%s_filtering=true", k, strings.ToUpper(fam[:2])+fam[2:], fam)
		}
	}
	switch {
	case d["network"] != "" && d["nictype"] != "":
		return fmt.Errorf("give either network= or nictype=, not both (with network= the network decides the NIC's type)")
	case d["network"] != "":
		return nil
	case d["nictype"] == "":
		return fmt.Errorf("a nic needs network=NAME (a lodge-managed network), or nictype=bridged or nictype=macvlan with parent=")
	case d["nictype"] == "routed":
		if d["ipv4.address"] == "" && d["ipv6.address"] == "" {
			return fmt.Errorf("a routed NIC needs ipv4.address or ipv6.address (the addresses the host routes to it)")
		}
		return nil
	case d["parent"] == "":
		return fmt.Errorf("nictype %s needs parent= (the host bridge or NIC)", d["nictype"])
	}
	return nil
}

func checkDisk(name string, d map[string]string) error {
	if d["path"] == "" {
		return fmt.Errorf("a disk needs path= (/ for the root disk, else an absolute path inside the instance)")
	}
	if d["path"] == "/" {
		if name != "root" {
			return fmt.Errorf("only the root disk (a device named root) has path=/")
		}
		return nil
	}
	if d["source"] == "" {
		return fmt.Errorf("a disk needs source= (a host path, or a volume name with pool=)")
	}
	if d["pool"] == "" {
		if !filepath.IsAbs(d["source"]) {
			return fmt.Errorf("source %q must be an absolute host path (or name a volume with pool=)", d["source"])
		}
		if _, err := os.Stat(d["source"]); err != nil && d["required"] != "false" {
			return fmt.Errorf("host path %q: %v", d["source"], err)
		}
		if IsTrue(d["shift"]) {
			if err := searchable(d["source"]); err != nil {
				return err
			}
		}
	}
	return nil
}

// searchable checks that others may search every directory above a
// shift=true source: liblxc makes the idmapped mount from inside the
// container's user namespace, where host root's rights do not apply.
func searchable(src string) error {
	for dir := filepath.Dir(filepath.Clean(src)); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("shift=true: %s (mode %04o) is not searchable by others, and the idmapped mount of %s is made from inside the container's user namespace; chmod o+x %s, or use a source below searchable directories", dir, fi.Mode().Perm(), src, dir)
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

func checkProxy(_ string, d map[string]string) error {
	if d["listen"] == "" || d["connect"] == "" {
		return fmt.Errorf("a proxy needs listen= and connect= (tcp:ADDRESS:PORT or udp:ADDRESS:PORT)")
	}
	l, _ := netparse.Parse(d["listen"])
	c, _ := netparse.Parse(d["connect"])
	if l.Proto != c.Proto {
		return fmt.Errorf("listen is %s but connect is %s; both must be the same protocol", l.Proto, c.Proto)
	}
	return nil
}

func isNonEmpty(v string) error {
	if v == "" {
		return fmt.Errorf("expected a name")
	}
	return nil
}

// ifNameRE is what lodge accepts as an interface name (IFNAMSIZ: 15 bytes).
var ifNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$`)

func isInterfaceName(v string) error {
	if !ifNameRE.MatchString(v) {
		return fmt.Errorf("expected an interface name: 1-15 letters, digits, '-', '_' or '.', starting with a letter")
	}
	return nil
}

func isHostInterface(v string) error {
	if v == "" {
		return fmt.Errorf("expected the name of a host interface")
	}
	if _, err := net.InterfaceByName(v); err != nil {
		return fmt.Errorf("no such host interface (ip link shows them)")
	}
	return nil
}

func isMAC(v string) error {
	if _, err := net.ParseMAC(v); err != nil || len(v) != len("00:11:22:33:44:55") {
		return fmt.Errorf("expected a MAC address such as 00:16:3e:12:34:56")
	}
	return nil
}

func isIPv4(v string) error {
	if v == "none" {
		return nil // checkNIC: only with security.ipv4_filtering
	}
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if net.ParseIP(a).To4() == nil || strings.Contains(a, ":") {
			return fmt.Errorf("expected an IPv4 address")
		}
	}
	return nil
}

func isIPv6List(v string) error {
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "none" && !strings.Contains(v, ",") {
			continue
		}
		if ip := net.ParseIP(a); ip == nil || ip.To4() != nil {
			return fmt.Errorf("expected an IPv6 address")
		}
	}
	return nil
}

// isBitRate takes LXD's bit rates: an integer and bit, kbit, Mbit, Gbit
// (powers of 1000) or Kibit, Mibit, Gibit (powers of 1024).
func isBitRate(v string) error { return netparse.ValidBitRate(v) }

func isDiskPath(v string) error {
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("expected an absolute path inside the instance")
	}
	if strings.ContainsAny(v, " \t\n\\") {
		return fmt.Errorf("paths with blanks or backslashes are not supported")
	}
	return nil
}

func isDiskSource(v string) error {
	if v == "" {
		return fmt.Errorf("expected a host path or a volume name")
	}
	if strings.ContainsAny(v, " \t\n\\") {
		return fmt.Errorf("paths with blanks or backslashes are not supported")
	}
	return nil
}

// isDiskSize takes what the storage pools take: a positive number with an
// optional unit, units in any case (20GiB, 500MB, 20gib).
func isDiskSize(v string) error {
	s := strings.TrimSpace(v)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit := strings.TrimSpace(s[i:])
	known := unit == ""
	for u := range sizeUnits {
		known = known || u != "" && strings.EqualFold(u, unit)
	}
	if err != nil || n <= 0 || !known {
		return fmt.Errorf("expected a number with an optional unit (e.g. 20GiB, 500MB)")
	}
	return nil
}

func isProxyAddr(v string) error {
	if _, err := netparse.Parse(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), strconv.Quote(v)+": "))
	}
	return nil
}
