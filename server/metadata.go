package server

import (
	"net/http"
	"sort"

	"lodge/api"
	"lodge/instances"
	"lodge/resources"
)

// configMetadata documents every instance config key and device key
// from the registries.
func (s *Server) configMetadata(r *http.Request) (response, error) {
	var out api.ConfigMetadata
	for name, k := range instances.Keys {
		out.Instance.Keys = append(out.Instance.Keys, api.ConfigKey{Name: name, Type: k.Type, Default: k.Default, LiveUpdate: k.Live, ShortDesc: k.Doc})
	}
	sort.Slice(out.Instance.Keys, func(i, j int) bool { return out.Instance.Keys[i].Name < out.Instance.Keys[j].Name })
	for _, ns := range instances.Namespaces {
		out.Instance.Namespaces = append(out.Instance.Namespaces, api.ConfigNamespace{Prefix: ns.Prefix + "*", ShortDesc: ns.Doc})
	}
	out.Devices = map[string]api.DeviceEntity{}
	for typ, dt := range instances.Devices {
		e := api.DeviceEntity{ShortDesc: dt.Doc, Keys: []api.ConfigKey{}, NotYet: dt.NotYet, NotYetValues: dt.NotYetValues}
		for _, name := range dt.SupportedKeys() {
			k := dt.Keys[name]
			e.Keys = append(e.Keys, api.ConfigKey{Name: name, Type: k.Type, Default: k.Default, LiveUpdate: k.Live, ShortDesc: k.Doc, AppliesTo: k.Kinds})
		}
		for _, kd := range dt.Kinds {
			e.Kinds = append(e.Kinds, api.DeviceKindDoc{Name: kd.Name, ShortDesc: kd.Doc})
		}
		out.Devices[typ] = e
	}
	out.DeviceTypesNotYet = instances.DeviceTypesNotYet
	return reply(out), nil
}

// resources describes the host's CPUs, memory and disks, and the kernel
// limits lodged raised at its start.
func (s *Server) resources(r *http.Request) (response, error) {
	res := resources.Read("/")
	for _, st := range s.cfg.HostLimits {
		l := api.ResourcesHostLimit{Key: st.Key, Value: st.Now, Minimum: st.Min, Why: st.Why}
		if st.Changed {
			was := st.Was
			l.RaisedFrom = &was
		}
		if st.Err != nil {
			l.Error = st.Err.Error()
		}
		res.HostLimits = append(res.HostLimits, l)
	}
	return reply(res), nil
}
