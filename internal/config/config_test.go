package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// loose decodes itself through Node.Decode, which yaml.v3 does not check
// for unknown fields: Decode must check it anyway.
type loose struct {
	Price string `yaml:"price"`
	Line  int    `yaml:"-"`
}

func (loose) ConfigName() string { return "a rule" }

func (l *loose) UnmarshalYAML(n *yaml.Node) error {
	type plain loose
	l.Line = n.Line
	return n.Decode((*plain)(l))
}

type inner struct {
	Addrs []string      `yaml:"addrs"`
	TTL   time.Duration `yaml:"ttl"`
}

type sample struct {
	Listen  string           `yaml:"listen"`
	Grace   time.Duration    `yaml:"grace"`
	Retries []time.Duration  `yaml:"retries"`
	Redis   inner            `yaml:"redis"`
	Rules   []loose          `yaml:"rules"`
	Named   map[string]inner `yaml:"named"`
	Allow   []netip.Prefix   `yaml:"allow"`
	Ptr     *inner           `yaml:"ptr"`
	Embed   struct{ inner }  `yaml:"embed"`
	Inline  `yaml:",inline"`
	Skip    string         `yaml:"-"`
	Free    map[string]any `yaml:"free"`
	Wrapped wrapped        `yaml:"wrapped"`
}

// Inline is inlined into sample.
type Inline struct {
	LogLevel string `yaml:"log_level"`
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name, src, err string
	}{
		{"empty document keeps the defaults", "", ""},
		{"every kind of field", "listen: a:1\ngrace: 1m\nretries: [1s, 2m]\nredis: {addrs: [x], ttl: 3s}\nrules: [{price: \"1\"}]\nnamed: {a: {ttl: 1s}}\nallow: [127.0.0.0/8]\nptr: {ttl: 2s}\nlog_level: info\nfree: {anything: 1}\n", ""},
		{"unknown top-level field", "listne: x\n", "field listne not found"},
		{"unknown nested field", "redis:\n  adrs: [x]\n", "line 2: field adrs not found"},
		{"unknown field inside an UnmarshalYAML type", "rules:\n  - price: \"1\"\n    prcie: \"2\"\n", `line 3: a rule has no field "prcie" (did you mean "price"?)`},
		{"unknown field in a map value", "named:\n  a:\n    tll: 1s\n", "line 3: field tll not found"},
		{"unknown field behind a pointer", "ptr: {nope: 1}\n", "field nope not found"},
		{"unknown field in a map inside an UnmarshalYAML type", "wrapped:\n  a:\n    tll: 1s\n", `line 3: wrapped.a has no field "tll" (did you mean "ttl"?)`},
		{"unknown field at the top of an UnmarshalYAML type", "wrapped:\n  b: {ttl: 1s}\n  c: {adrs: []}\n", `line 3: wrapped.c has no field "adrs" (did you mean "addrs"?)`},
		{"a field the tag hides", "skip: x\n", "field skip not found"},
		{"a bare number for a duration", "grace: 10\n", `line 1: grace: duration "10": time: missing unit in duration "10"`},
		{"a bare number in a duration list", "retries: [1s, 5]\n", `line 1: retries[1]: duration "5"`},
		{"a bare number in a nested duration", "redis:\n  ttl: 30\n", `line 2: redis.ttl: duration "30"`},
		{"a duration inside an UnmarshalYAML type", "wrapped:\n  a: {ttl: later}\n", `line 2: wrapped.a.ttl: duration "later"`},
		{"a bad duration", "grace: soon\n", `line 1: grace: duration "soon"`},
		{"not a mapping", "- a\n", "cannot unmarshal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := sample{Listen: "default"}
			err := Decode([]byte(tt.src), &got)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.src == "" && got.Listen != "default" {
					t.Fatalf("the default was lost: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Decode error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	var got sample
	if err := Decode([]byte("grace: 90s\nrules:\n  - price: \"0.01\"\nallow: [10.0.0.0/8]\n"), &got); err != nil {
		t.Fatal(err)
	}
	if got.Grace != 90*time.Second || len(got.Rules) != 1 || got.Rules[0].Price != "0.01" || got.Rules[0].Line != 3 ||
		len(got.Allow) != 1 || got.Allow[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("decoded %+v", got)
	}
}

func TestLoadNamesThePath(t *testing.T) {
	if err := Load("testdata/does-not-exist.yaml", &sample{}); err == nil {
		t.Fatal("a missing file loaded")
	}
	path := t.TempDir() + "/c.yaml"
	writeFile(t, path, "nope: 1\n")
	if err := Load(path, &sample{}); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("Load error = %v, want it to start with the path", err)
	}
}

func TestSecrets(t *testing.T) {
	t.Setenv("CONFIG_TEST_SECRET", "s3cret")
	for _, tt := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"env:CONFIG_TEST_SECRET", "s3cret", ""},
		{"env:CONFIG_TEST_UNSET", "", "CONFIG_TEST_UNSET is empty"},
	} {
		got, err := Secret(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Secret(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
	token, key := "file", ""
	FromEnv(func(k string) string { return map[string]string{"TOKEN": "env"}[k] }, map[string]*string{"TOKEN": &token, "KEY": &key})
	if token != "env" || key != "" {
		t.Fatalf("FromEnv: token %q key %q", token, key)
	}
}

func TestChecks(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(string) error
		in   string
		ok   bool
	}{
		{"HTTPURL", HTTPURL, "https://keys.example/base", true},
		{"HTTPURL", HTTPURL, "http://127.0.0.1:8403", true},
		{"HTTPURL", HTTPURL, "ftp://keys.example", false},
		{"HTTPURL", HTTPURL, "/relative", false},
		{"HTTPURL", HTTPURL, "https://keys.example/?q=1", false},
		{"Origin", Origin, "https://agents.example", true},
		{"Origin", Origin, "https://agents.example/", true},
		{"Origin", Origin, "https://agents.example/path", false},
		{"Origin", Origin, "https://u@agents.example", false},
		{"HostPort", HostPort, "127.0.0.1:8402", true},
		{"HostPort", HostPort, "127.0.0.1", false},
	} {
		if err := tt.f(tt.in); (err == nil) != tt.ok {
			t.Errorf("%s(%q) = %v, want ok %v", tt.name, tt.in, err, tt.ok)
		}
	}
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, " INFO ": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel accepted loud")
	}
	if _, err := NewLogger(&strings.Builder{}, "loud"); err == nil {
		t.Error("NewLogger accepted loud")
	}
}

type part struct{ err error }

func (p part) Validate() error { return p.err }

func TestValidateJoinsParts(t *testing.T) {
	var p Problems
	p.Addf("listen %q: bad", "x")
	p.Add(nil)
	err := Validate(part{}, part{p.Err()}, nil, part{errString("evm: no key")})
	if err == nil || !strings.Contains(err.Error(), `listen "x": bad`) || !strings.Contains(err.Error(), "evm: no key") {
		t.Fatalf("Validate = %v", err)
	}
	if err := Validate(part{}, part{}); err != nil {
		t.Fatalf("Validate of good parts = %v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// wrapped is a map of structs that decodes itself.
type wrapped map[string]inner

func (w *wrapped) UnmarshalYAML(n *yaml.Node) error {
	m := map[string]inner{}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*w = m
	return nil
}

// FuzzDecode: whatever the document, Decode returns an error or a value,
// never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "listen: a\n", "rules: [{price: \"1\", x: 2}]\n", "named: {a: {ttl: 1s}}\n", "wrapped: {a: {adrs: 1}}\n", "a: &x {b: *x}\n", "- [\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		_ = Decode(b, &s)
	})
}
