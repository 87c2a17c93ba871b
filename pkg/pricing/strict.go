package pricing

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes the mapping node n into v (a pointer to a struct),
// refusing keys that name no field of v with an error that gives the key's
// line and the nearest field name. yaml.v3 checks unknown fields only in the
// decoder that was told KnownFields; the fresh decoder behind Node.Decode,
// which every UnmarshalYAML uses, accepts anything, so a typo such as
// "prcie" inside a site would otherwise silently leave a price unset.
func decodeStrict(n *yaml.Node, v any, what string) error {
	if n.Kind == yaml.MappingNode {
		fields := yamlFields(reflect.TypeOf(v).Elem())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, ok := fields[k.Value]; ok {
				continue
			}
			msg := fmt.Sprintf("line %d: %s has no field %q", k.Line, what, k.Value)
			if near := nearest(k.Value, fields); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			return fmt.Errorf("%s", msg)
		}
	}
	return n.Decode(v)
}

// yamlFields returns the YAML keys of struct type t, inline fields included.
func yamlFields(t reflect.Type) map[string]struct{} {
	out := map[string]struct{}{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct:
			for k := range yamlFields(f.Type) {
				out[k] = struct{}{}
			}
		case !f.IsExported():
		case name == "":
			out[strings.ToLower(f.Name)] = struct{}{}
		default:
			out[name] = struct{}{}
		}
	}
	return out
}

// nearest returns the field within edit distance 2 of key, or "".
func nearest(key string, fields map[string]struct{}) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(key, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (adjacent swaps count
// one) between short ASCII strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
