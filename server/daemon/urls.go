package daemon

import "net/url"

// The REST names of the daemon's objects: they are in lifecycle events
// and operation resources (as in LXD), and the server renders used_by
// lists with them.

func ImageURL(fp string) string { return "/1.0/images/" + fp }

func NetworkURL(name string) string { return "/1.0/networks/" + url.PathEscape(name) }

func ProfileURL(name string) string { return "/1.0/profiles/" + name }

func PoolURL(name string) string { return "/1.0/storage-pools/" + name }

func VolumeURL(pool, typ, name string) string {
	return PoolURL(pool) + "/volumes/" + typ + "/" + name
}

func InstanceURL(name string) string { return "/1.0/instances/" + name }

func InstanceResources(name string) map[string][]string {
	return map[string][]string{"instances": {InstanceURL(name)}, "containers": {"/1.0/containers/" + name}}
}

func SnapshotURL(inst, snap string) string { return InstanceURL(inst) + "/snapshots/" + snap }
