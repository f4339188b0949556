package instances

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// cloud-init reads an instance's data from these keys, through the guest
// API (/dev/lxd) or the NoCloud seed the image's templates write. The
// cloud-init.* keys are the current ones; the user.* ones are the older
// spelling, still read (user.meta-data has no cloud-init.* twin).
const (
	CloudInitUserData      = "cloud-init.user-data"
	CloudInitVendorData    = "cloud-init.vendor-data"
	CloudInitNetworkConfig = "cloud-init.network-config"
	// CloudInitIDKey holds the instance-id cloud-init sees; a new one makes
	// cloud-init run its per-instance modules again.
	CloudInitIDKey = "volatile.cloud-init.instance-id"
)

// cloudInitKeys are the config keys with a meaning for cloud-init.
var cloudInitKeys = map[string]Key{
	CloudInitUserData: {Type: "string", Live: true, Validate: isCloudInitData,
		Doc: "cloud-init user-data (#cloud-config YAML, a script, ...); wins over user.user-data"},
	CloudInitVendorData: {Type: "string", Live: true, Validate: isCloudInitData,
		Doc: "cloud-init vendor-data, as user-data; wins over user.vendor-data"},
	CloudInitNetworkConfig: {Type: "string", Live: true, Validate: isYAML,
		Doc: "cloud-init network config (YAML, version 1 or 2); wins over user.network-config"},
	"security.devlxd": {Type: "bool", Default: "true", Validate: isBool,
		Doc: "serve the guest API on /dev/lxd/sock in the instance (cloud-init's LXD datasource)"},
	"security.devlxd.images": {Type: "bool", Default: "false", Live: true, Validate: isBool,
		Doc: "let the instance export the host's images through /dev/lxd"},
}

func init() {
	for k, v := range cloudInitKeys {
		Keys[k] = v
	}
}

// isCloudInitData is LXD's check of user-data and vendor-data: a
// "#cloud-config" document must be YAML, other formats (scripts, MIME
// multipart, #include) are cloud-init's business.
func isCloudInitData(v string) error {
	if body, ok := strings.CutPrefix(v, "#cloud-config\n"); ok {
		return isYAML(body)
	}
	return nil
}

// isYAML accepts an empty document or a YAML mapping.
func isYAML(v string) error {
	var m struct{}
	if err := yaml.Unmarshal([]byte(v), &m); err != nil {
		return fmt.Errorf("not a YAML mapping: %v", firstLine(err.Error()))
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// CloudInitValue is the effective value of cloud-init's user-data,
// vendor-data or network-config (which) in an expanded config: a non-empty
// cloud-init.X, else user.X. ok is false when neither is set non-empty.
func CloudInitValue(cfg map[string]string, which string) (value string, ok bool) {
	if v := cfg["cloud-init."+which]; v != "" {
		return v, true
	}
	if v := cfg["user."+which]; v != "" {
		return v, true
	}
	return "", false
}

// CloudInitID is the instance-id cloud-init sees: the volatile key, else
// the name (instances made before the key existed).
func CloudInitID(name string, cfg map[string]string) string {
	if id := cfg[CloudInitIDKey]; id != "" {
		return id
	}
	return name
}

// NewCloudInitID makes a fresh instance-id. The orchestration layer stores
// one on create and copy (a copy never keeps its source's), on rename, and
// when NeedsNewCloudInitID says an update calls for it.
func NewCloudInitID() string { return uuid.NewString() }

// cloudInitIDKeys are the keys whose change gives an instance a new
// instance-id (user.meta-data is not one of them, as in LXD).
var cloudInitIDKeys = []string{
	"cloud-init.user-data", "cloud-init.vendor-data", "cloud-init.network-config",
	"user.user-data", "user.vendor-data", "user.network-config",
}

// NeedsNewCloudInitID tells whether an update from (oldCfg, oldDevs) to
// (newCfg, newDevs), expanded, changes what cloud-init was given: one of
// the user-data, vendor-data or network-config keys, or the set of NIC
// names inside the instance.
func NeedsNewCloudInitID(oldCfg, newCfg map[string]string, oldDevs, newDevs map[string]map[string]string) bool {
	for _, k := range cloudInitIDKeys {
		ov, oOK := oldCfg[k]
		nv, nOK := newCfg[k]
		if ov != nv || oOK != nOK {
			return true
		}
	}
	a, b := nicNames(oldDevs), nicNames(newDevs)
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

// nicNames lists the interface names the NICs of devs get in the instance.
func nicNames(devs map[string]map[string]string) []string {
	var names []string
	for dev, d := range devs {
		if d["type"] != "nic" {
			continue
		}
		if d["name"] != "" {
			names = append(names, d["name"])
		} else {
			names = append(names, dev)
		}
	}
	sort.Strings(names)
	return names
}

// DefaultCloudConfig is the user-data and vendor-data given when none is
// set: an empty cloud config.
const DefaultCloudConfig = "#cloud-config\n{}"

// NoCloudSeed is what cloud-init's NoCloud datasource finds in
// /var/lib/cloud/seed/nocloud-net/ of an instance called name, as the
// images' distrobuilder-style templates render it at create and copy:
// file name to content. meta-data's instance-id is the name, so a copy
// (new name) is a new instance to cloud-init.
func NoCloudSeed(name string, cfg map[string]string) map[string]string {
	// The templates read values through config_get, which drops trailing
	// newlines, and then end the file with one.
	value := func(which, def string) string {
		for _, k := range []string{"cloud-init." + which, "user." + which} {
			if v := trimNL(cfg[k]); v != "" {
				return v + "\n"
			}
		}
		return def + "\n"
	}
	return map[string]string{
		"meta-data":      "instance-id: " + name + "\nlocal-hostname: " + name + "\n" + trimNL(cfg["user.meta-data"]) + "\n",
		"user-data":      value("user-data", DefaultCloudConfig),
		"vendor-data":    value("vendor-data", DefaultCloudConfig),
		"network-config": value("network-config", DefaultNetworkConfig("eth0")),
	}
}

// trimNL drops trailing newlines, as the templates' config_get does.
func trimNL(s string) string { return strings.TrimRight(s, "\r\n") }

// DefaultNetworkConfig is the network config given without one: DHCP on
// nic (eth0 in a container).
func DefaultNetworkConfig(nic string) string {
	return "version: 1\nconfig:\n  - type: physical\n    name: " + nic +
		"\n    subnets:\n      - type: dhcp\n        control: auto"
}

// DevLXDMetaData is GET /1.0/meta-data of the guest API, as LXD 5.0
// serves it: a cloud-config comment line, instance-id and local-hostname,
// then user.meta-data as it is (a later duplicate key wins in cloud-init's
// YAML parser).
func DevLXDMetaData(name string, cfg map[string]string) string {
	return fmt.Sprintf("#cloud-config\ninstance-id: %s\nlocal-hostname: %s\n%s", CloudInitID(name, cfg), name, cfg["user.meta-data"])
}
