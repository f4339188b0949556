package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// imageTemplate is one rule of metadata.yaml's templates: section and the
// text of its template file, as distrobuilder writes them: the target path
// in the instance, the triggers that render it and the template's own
// properties.
type imageTemplate struct {
	Target     string
	When       []string
	File       string
	Text       string
	Properties map[string]string
}

// The templates every image with cloud-init carries: the triggers are
// distrobuilder's (create, copy), plus rename for hostname and hosts, so a
// renamed instance boots with its new name.
var (
	hostnameTemplate = imageTemplate{Target: "/etc/hostname", When: []string{"create", "copy", "rename"},
		File: "hostname.tpl", Text: "{{ container.name }}\n"}
	hostsTemplate = imageTemplate{Target: "/etc/hosts", When: []string{"create", "copy", "rename"},
		File: "hosts.tpl", Text: "127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n\n" +
			"# The following lines are desirable for IPv6 capable hosts\n" +
			"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"}
)

// nocloudDir is where cloud-init's NoCloud datasource looks for a seed
// without a config drive.
const nocloudDir = "/var/lib/cloud/seed/nocloud-net/"

// cloudDataTemplate renders cloud-init's user-data or vendor-data: a
// non-empty cloud-init.X wins over user.X; with neither, an empty cloud
// config (the template property "default").
func cloudDataTemplate(which string) string {
	return `{%- if config_get("cloud-init.` + which + `", "") != "" -%}
{{ config_get("cloud-init.` + which + `", "") }}
{%- elif config_get("user.` + which + `", "") != "" -%}
{{ config_get("user.` + which + `", "") }}
{%- else -%}
{{ properties.default }}
{%- endif %}
`
}

var cloudInitTemplates = []imageTemplate{
	{Target: nocloudDir + "meta-data", When: []string{"create", "copy"}, File: "cloud-init-meta.tpl",
		Text: `instance-id: {{ container.name }}
local-hostname: {{ container.name }}
{{ config_get("user.meta-data", "") }}
`},
	{Target: nocloudDir + "user-data", When: []string{"create", "copy"}, File: "cloud-init-user.tpl",
		Text: cloudDataTemplate("user-data"), Properties: map[string]string{"default": "#cloud-config\n{}"}},
	{Target: nocloudDir + "vendor-data", When: []string{"create", "copy"}, File: "cloud-init-vendor.tpl",
		Text: cloudDataTemplate("vendor-data"), Properties: map[string]string{"default": "#cloud-config\n{}"}},
	// Without network config, DHCP on the first NIC, as cloud-init's own
	// fallback would do.
	{Target: nocloudDir + "network-config", When: []string{"create", "copy"}, File: "cloud-init-network.tpl",
		Text: `{%- if config_get("cloud-init.network-config", "") != "" -%}
{{ config_get("cloud-init.network-config", "") }}
{%- elif config_get("user.network-config", "") != "" -%}
{{ config_get("user.network-config", "") }}
{%- else -%}
version: 1
config:
  - type: physical
    name: {% if instance.type == "virtual-machine" %}enp5s0{% else %}eth0{% endif %}
    subnets:
      - type: dhcp
        control: auto
{%- endif %}
`},
}

// templatesYAML renders the templates: section of metadata.yaml.
func templatesYAML(ts []imageTemplate) string {
	if len(ts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("templates:\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "  %q:\n    when:\n", t.Target)
		for _, w := range t.When {
			fmt.Fprintf(&b, "      - %s\n", w)
		}
		fmt.Fprintf(&b, "    create_only: false\n    template: %q\n", t.File)
		if len(t.Properties) > 0 {
			b.WriteString("    properties:\n")
			for _, k := range sortedKeys(t.Properties) {
				fmt.Fprintf(&b, "      %q: %q\n", k, t.Properties[k])
			}
		}
	}
	return b.String()
}

// writeTemplates writes the template files into dir/templates.
func writeTemplates(dir string, ts []imageTemplate) error {
	if len(ts) == 0 {
		return nil
	}
	tdir := filepath.Join(dir, "templates")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return err
	}
	for _, t := range ts {
		if err := os.WriteFile(filepath.Join(tdir, t.File), []byte(t.Text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// templateParts is what the templates add to a recipe's cache key.
func templateParts(ts []imageTemplate) []string {
	return []string{templatesYAML(ts), fmt.Sprint(ts)}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
