package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 24, 11, 47, 18, 0, time.UTC)

// Golden samples pin the wire shape: field names are LXD's, so a rename here
// breaks LXD's client and shows up as a diff to review.
var goldens = map[string]any{
	"instance": Instance{
		InstancePut: InstancePut{Architecture: "x86_64", Config: map[string]string{"image.os": "debian", "volatile.base_image": "abc"},
			Devices: map[string]map[string]string{}, Profiles: []string{"default"}},
		CreatedAt: t0, ExpandedConfig: map[string]string{"image.os": "debian"},
		ExpandedDevices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}},
		Name:            "c01", Status: "Running", StatusCode: Running, LastUsedAt: t0, Location: "none", Type: "container", Project: "default",
	},
	"profile": Profile{ProfilePut: ProfilePut{Config: map[string]string{"limits.memory": "512MiB"}, Description: "Default lodge profile",
		Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}},
		Name: "default", UsedBy: []string{"/1.0/instances/c01"}},
	"resources": Resources{CPU: ResourcesCPU{Architecture: "x86_64", Total: 1, Sockets: []ResourcesCPUSocket{{Name: "Xeon", Vendor: "GenuineIntel",
		Cores: []ResourcesCPUCore{{Threads: []ResourcesCPUThread{{Online: true}}}}}}},
		Memory:  ResourcesMemory{Used: 1 << 30, Total: 4 << 30},
		Storage: ResourcesStorage{Disks: []ResourcesStorageDisk{{ID: "vda", Device: "254:0", Type: "virtio", Size: 1 << 40}}, Total: 1}},
	"instance_state": InstanceState{Status: "Running", StatusCode: Running, Pid: 1234, Processes: 12,
		Disk: map[string]InstanceStateDisk{}, Memory: InstanceStateMemory{Usage: 1 << 20},
		Network: map[string]InstanceStateNetwork{"eth0": {Addresses: []InstanceStateNetworkAddress{{Family: "inet", Address: "10.0.3.5", Netmask: "24", Scope: "global"}},
			Hwaddr: "00:16:3e:00:00:01", HostName: "veth1234", Mtu: 1500, State: "up", Type: "broadcast"}}},
	"instances_post": InstancesPost{InstancePut: InstancePut{Config: map[string]string{}, Devices: map[string]map[string]string{}},
		Name: "c99", Source: InstanceSource{Type: "image", Fingerprint: "24919c59"}, Type: "container"},
	"exec_post":    InstanceExecPost{Command: []string{"ls", "/"}, WaitForWS: true, Environment: map[string]string{"TERM": "xterm"}},
	"exec_control": InstanceExecControl{Command: "window-resize", Args: map[string]string{"width": "100", "height": "30"}},
	"operation": Operation{ID: "7830144d-7578-49d9-a0f1-83f48268dc54", Class: "task", Description: "Creating instance",
		CreatedAt: t0, UpdatedAt: t0, Status: "Running", StatusCode: Running,
		Resources: map[string][]string{"instances": {"/1.0/instances/c99"}}, Location: "none"},
	"image": Image{ImagePut: ImagePut{Properties: map[string]string{"os": "debian"}, Profiles: []string{"default"}},
		Aliases: []ImageAlias{{Name: "debian/12"}}, Architecture: "x86_64", Filename: "debian.tar.zst",
		Fingerprint: "24919c59fca10545319c538c6eeb8a1138353121c4dcd7da2cfd4af76e09cdcd", Size: 61743565, Type: "container",
		CreatedAt: t0, UploadedAt: t0},
	"alias":          ImageAliasesEntry{ImageAliasesEntryPut: ImageAliasesEntryPut{Target: "24919c59"}, Name: "debian12", Type: "container"},
	"response_error": Response{Type: ErrorResponse, Error: "not found", ErrorCode: 404, Metadata: json.RawMessage("null")},
}

func TestGoldenJSON(t *testing.T) {
	for name, v := range goldens {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./api -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s changed:\n got: %s\nwant: %s", path, got, want)
			}
			// And the golden decodes back to the same value.
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), v) {
				t.Fatalf("round trip of %s differs", name)
			}
		})
	}
}
