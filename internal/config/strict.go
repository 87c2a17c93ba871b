package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode reads the YAML document b into dst, a pointer to a struct that
// already holds the defaults; an empty document leaves them. A key that
// names no field is an error wherever it stands, inside types with their
// own UnmarshalYAML too (yaml.v3 checks only what its own decoder reaches),
// and so is a time.Duration that is not a Go duration with its unit
// ("30s"; never a bare number of nanoseconds). Errors name their line.
func Decode(b []byte, dst any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root, t := doc.Content[0], reflect.TypeOf(dst)
	if err := walk(root, t, "", durations); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	// yaml.v3 has checked the keys its own decoder reached; this finds
	// those inside types that decode themselves through Node.Decode.
	return walk(root, t, "", knownFields)
}

// Load reads the file at path and Decodes it into dst; errors start with
// the path.
func Load(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := Decode(b, dst); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Named is implemented by a configuration struct that names itself in
// errors ("a site"); others are named by their path ("registry").
type Named interface {
	ConfigName() string
}

var namedType = reflect.TypeOf((*Named)(nil)).Elem()

// name is how errors call the struct of type t at path.
func name(t reflect.Type, path string) string {
	if t.Implements(namedType) {
		return reflect.Zero(t).Interface().(Named).ConfigName()
	}
	if path == "" {
		return "the configuration"
	}
	return path
}

// walk calls visit for n and, along t, for every node inside it: struct
// fields by their YAML keys, sequence elements and map values. A key that
// names no field is handed to unknown, which returns the error to stop
// with, if any.
func walk(n *yaml.Node, t reflect.Type, path string, visit func(n *yaml.Node, t reflect.Type, path string) error) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if err := visit(n, t, path); err != nil {
		return err
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				if err := walk(n.Content[i+1], ft, join(path, n.Content[i].Value), visit); err != nil {
					return err
				}
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			if err := walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), visit); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), visit); err != nil {
				return err
			}
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// durations refuses a time.Duration that is not a Go duration with a unit,
// naming the line and the field.
func durations(n *yaml.Node, t reflect.Type, path string) error {
	if t != durationType || n.Kind != yaml.ScalarNode {
		return nil
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		return fmt.Errorf("line %d: %s: duration %q: %v (write one such as 30s, 5m or 24h)", n.Line, path, n.Value, err)
	}
	return nil
}

// knownFields refuses a mapping key that names no field of its struct.
func knownFields(n *yaml.Node, t reflect.Type, path string) error {
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
		return nil
	}
	fields := fieldsOf(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, ok := fields[k.Value]; ok {
			continue
		}
		msg := fmt.Sprintf("line %d: %s has no field %q", k.Line, name(t, path), k.Value)
		if near := nearest(k.Value, fields); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return errors.New(msg)
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldsOf maps the YAML keys of struct type t, inline fields included, to
// their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct:
			for k, v := range fieldsOf(f.Type) {
				out[k] = v
			}
		case !f.IsExported():
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

// nearest returns the field within edit distance 2 of key, or "".
func nearest(key string, fields map[string]reflect.Type) string {
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
