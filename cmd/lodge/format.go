package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"gopkg.in/yaml.v3"
)

// render prints rows (and, for structured formats, the raw objects) in one of
// the formats every listing command shares.
func render(w io.Writer, format string, header []string, rows [][]string, objects any) error {
	switch format {
	case "", "table":
		t := tablewriter.NewTable(w, tablewriter.WithRowAutoWrap(tw.WrapNone), tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)))
		t.Header(header)
		for _, r := range rows {
			if err := t.Append(r); err != nil {
				return err
			}
		}
		return t.Render()
	case "csv":
		cw := csv.NewWriter(w)
		for _, r := range rows {
			if err := cw.Write(r); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		return enc.Encode(objects)
	case "yaml":
		return writeYAML(w, objects)
	}
	return fmt.Errorf("unknown format %q: use table, csv, json or yaml", format)
}

// writeYAML prints v as YAML: every show command's output.
func writeYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func upper(s string) string { return strings.ToUpper(s) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
