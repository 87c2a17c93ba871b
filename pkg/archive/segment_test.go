package archive

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func encodeSegment(t testing.TB, recs ...Record) []byte {
	t.Helper()
	var b bytes.Buffer
	sw, err := newSegmentWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := sw.write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdOf(t testing.TB, s string) []byte {
	var b bytes.Buffer
	enc, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write([]byte(s))
	enc.Close()
	return b.Bytes()
}

// TestSegmentRoundTrip: what the writer encodes the reader returns, HTML
// characters and all; damage is ErrCorrupt.
func TestSegmentRoundTrip(t *testing.T) {
	recs := []Record{
		{ID: "1-0", Account: "op_a", Day: "2026-12-01", Path: "/a?b=<c>&d", Price: 1, Currency: "USD", Covered: map[string]string{"x": "y"}},
		{ID: "2-0", Account: "op_a", Day: "2026-12-01", Price: 9_000_000_000, Currency: "EUR", ReplayIDs: []string{"n"}},
	}
	seg := encodeSegment(t, recs...)
	sr, err := NewSegmentReader(bytes.NewReader(seg))
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for i := range recs {
		r, err := sr.Next()
		if err != nil || !reflect.DeepEqual(*r, recs[i]) {
			t.Fatalf("record %d: %+v %v", i, r, err)
		}
	}
	if _, err := sr.Next(); err != io.EOF {
		t.Fatalf("after the last: %v", err)
	}
	for name, bad := range map[string][]byte{
		"truncated": seg[:len(seg)-3],
		"flipped":   append(append([]byte{}, seg[:len(seg)-6]...), append([]byte{seg[len(seg)-6] ^ 1}, seg[len(seg)-5:]...)...),
		"not zstd":  []byte("{\"id\":\"1-0\"}\n"),
		"not json":  zstdOf(t, "{not json}\n"),
	} {
		t.Run(name, func(t *testing.T) {
			sr, err := NewSegmentReader(bytes.NewReader(bad))
			if err != nil {
				return
			}
			defer sr.Close()
			for {
				_, err := sr.Next()
				if err == io.EOF {
					t.Fatal("damaged segment read to the end")
				}
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("error %v is not ErrCorrupt", err)
					}
					return
				}
			}
		})
	}
}

// FuzzSegmentReader: any bytes give records or ErrCorrupt, never a panic.
func FuzzSegmentReader(f *testing.F) {
	f.Add(encodeSegment(f, Record{ID: "1-0", Account: "a", Day: "2026-12-01", Price: 5}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := NewSegmentReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		defer sr.Close()
		for i := 0; i < 1000; i++ {
			if _, err := sr.Next(); err != nil {
				if err != io.EOF && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not ErrCorrupt", err)
				}
				return
			}
		}
	})
}

// TestValidName: store names cannot leave a store's root.
func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{
		SegmentName("op_a", "2026-12-01"): true,
		SegmentName("..", "2026-12-01"):   true, // "...ndjson.zst" is a file name
		manifestName(3, "2026-12-01"):     true,
		"":                                false,
		"../x":                            false,
		"a//b":                            false,
		"/abs":                            false,
		"a/./b":                           false,
		"a\\b":                            false,
		"a b":                             false,
		"segments/2026-12-01/x\x00.zst":   false,
	} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
}
