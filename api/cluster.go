package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Cluster is GET /1.0/cluster (LXD's api.Cluster).
type Cluster struct {
	ServerName   string                   `json:"server_name" yaml:"server_name"`
	Enabled      bool                     `json:"enabled" yaml:"enabled"`
	MemberConfig []ClusterMemberConfigKey `json:"member_config" yaml:"member_config"`
}

// ClusterMemberConfigKey is a member-specific setting a joining server
// must give (a storage pool's source).
type ClusterMemberConfigKey struct {
	Entity      string `json:"entity" yaml:"entity"`
	Name        string `json:"name" yaml:"name"`
	Key         string `json:"key" yaml:"key"`
	Value       string `json:"value" yaml:"value"`
	Description string `json:"description" yaml:"description"`
}

// ClusterPut is PUT /1.0/cluster: enable clustering (ServerName,
// Enabled) or join a cluster (with ServerAddress and ClusterToken).
type ClusterPut struct {
	Cluster            `yaml:",inline"`
	ClusterAddress     string `json:"cluster_address" yaml:"cluster_address"`
	ClusterCertificate string `json:"cluster_certificate" yaml:"cluster_certificate"`
	ServerAddress      string `json:"server_address" yaml:"server_address"`
	ClusterPassword    string `json:"cluster_password" yaml:"cluster_password"`
	ClusterToken       string `json:"cluster_token" yaml:"cluster_token"`
}

// ClusterMembersPost is POST /1.0/cluster/members: a join token for a
// new member of this name.
type ClusterMembersPost struct {
	ServerName string `json:"server_name" yaml:"server_name"`
}

// ClusterMemberJoinToken is what a join token encodes (base64 JSON, as
// LXD prints it).
type ClusterMemberJoinToken struct {
	ServerName  string    `json:"server_name" yaml:"server_name"`
	Fingerprint string    `json:"fingerprint" yaml:"fingerprint"`
	Addresses   []string  `json:"addresses" yaml:"addresses"`
	Secret      string    `json:"secret" yaml:"secret"`
	ExpiresAt   time.Time `json:"expires_at" yaml:"expires_at"`
}

// String is the token as printed.
func (t ClusterMemberJoinToken) String() string {
	b, _ := json.Marshal(t)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseClusterJoinToken decodes a printed join token.
func ParseClusterJoinToken(s string) (ClusterMemberJoinToken, error) {
	var t ClusterMemberJoinToken
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("the join token is not base64: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("the join token does not decode: %w", err)
	}
	if t.Secret == "" || t.Fingerprint == "" || len(t.Addresses) == 0 || t.ServerName == "" {
		return t, fmt.Errorf("the join token lacks its server name, secret, fingerprint or addresses")
	}
	return t, nil
}

// ClusterMemberPut is a member's writable fields.
type ClusterMemberPut struct {
	Roles         []string          `json:"roles" yaml:"roles"`
	FailureDomain string            `json:"failure_domain" yaml:"failure_domain"`
	Description   string            `json:"description" yaml:"description"`
	Config        map[string]string `json:"config" yaml:"config"`
	Groups        []string          `json:"groups" yaml:"groups"`
}

// ClusterMember is one member (GET /1.0/cluster/members/{name}).
type ClusterMember struct {
	ClusterMemberPut `yaml:",inline"`
	ServerName       string `json:"server_name" yaml:"server_name"`
	URL              string `json:"url" yaml:"url"`
	Database         bool   `json:"database" yaml:"database"`
	Status           string `json:"status" yaml:"status"`
	Message          string `json:"message" yaml:"message"`
	Architecture     string `json:"architecture" yaml:"architecture"`
}

// ClusterMemberPost renames a member.
type ClusterMemberPost struct {
	ServerName string `json:"server_name" yaml:"server_name"`
}

// ClusterMemberStatePost is POST /1.0/cluster/members/{name}/state.
type ClusterMemberStatePost struct {
	Action string `json:"action" yaml:"action"`
	Mode   string `json:"mode" yaml:"mode"`
}

// ClusterMemberState is GET /1.0/cluster/members/{name}/state.
type ClusterMemberState struct {
	SysInfo      ClusterMemberSysInfo `json:"sysinfo" yaml:"sysinfo"`
	StoragePools map[string]any       `json:"storage_pools" yaml:"storage_pools"`
}

// ClusterMemberSysInfo is a member's load.
type ClusterMemberSysInfo struct {
	Uptime       int64     `json:"uptime" yaml:"uptime"`
	LoadAverages []float64 `json:"load_averages" yaml:"load_averages"`
	TotalRAM     uint64    `json:"total_ram" yaml:"total_ram"`
	FreeRAM      uint64    `json:"free_ram" yaml:"free_ram"`
	Processes    uint16    `json:"processes" yaml:"processes"`
	LogicalCPUs  uint64    `json:"logical_cpus" yaml:"logical_cpus"`
}

// InternalClusterAccept is what a joining server sends to a member
// (POST /internal/cluster/accept): who it is, where, and the token's
// secret.
type InternalClusterAccept struct {
	Name          string `json:"name"`
	Address       string `json:"address"`
	Secret        string `json:"secret"`
	Schema        int    `json:"schema"`
	Version       string `json:"version"`
	APIExtensions int    `json:"api_extensions"`
	Architecture  string `json:"architecture"`
}

// InternalClusterAcceptResponse is the cluster's answer: its certificate
// and key (the members' shared identity) and the members to join through.
type InternalClusterAcceptResponse struct {
	ClusterCertificate string   `json:"cluster_certificate"`
	ClusterKey         string   `json:"cluster_key"`
	Members            []string `json:"members"`
}

// InternalHeartbeat is the leader's heartbeat to each member: the
// members and their addresses as the database has them.
type InternalHeartbeat struct {
	Leader  string            `json:"leader"`
	Members map[string]string `json:"members"`
	Time    time.Time         `json:"time"`
}
