package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	// The records' frames end where the index's skippable frame begins.
	end := len(seg) - int(binary.LittleEndian.Uint64(seg[len(seg)-indexFooter:]))
	flipped := append([]byte{}, seg...)
	flipped[end-6] ^= 1
	for name, bad := range map[string][]byte{
		"truncated": seg[:end-3],
		"flipped":   flipped,
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

// TestSegmentIndex: a segment names the offset and first record of each of
// its frames; decoding from a frame's offset starts at that record; an
// index that contradicts itself is ErrCorrupt; a segment without one
// (written before it) has none.
func TestSegmentIndex(t *testing.T) {
	recs := make([]Record, 2*frameRecords+10)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprintf("%d-0", 1000+i), Account: "op_a", Day: "2026-12-01", Price: int64(i), Currency: "USD"}
	}
	seg := encodeSegment(t, recs...)
	frames, err := readIndex(bytes.NewReader(seg), int64(len(seg)))
	if err != nil || len(frames) != 3 || frames[0].Offset != 0 {
		t.Fatalf("index %+v, %v", frames, err)
	}
	for i, f := range frames {
		if f.First != recs[i*frameRecords].ID {
			t.Fatalf("frame %d begins with %s, want %s", i, f.First, recs[i*frameRecords].ID)
		}
		sr, err := NewSegmentReader(bytes.NewReader(seg[f.Offset:]))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			r, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil || (n == 0 && r.ID != f.First) {
				t.Fatalf("frame %d, record %d: %+v %v", i, n, r, err)
			}
		}
		sr.Close()
		if n != len(recs)-i*frameRecords {
			t.Fatalf("from frame %d: %d records", i, n)
		}
	}
	for after, want := range map[string]int{"": 0, "1-0": 0, recs[0].ID: 0, recs[frameRecords-1].ID: 0, recs[frameRecords].ID: 1, recs[len(recs)-1].ID: 2, "99999-0": 2} {
		if got := frameAfter(frames, after); got != frames[want] {
			t.Errorf("frameAfter(%q) = %+v, want frame %d", after, got, want)
		}
	}
	if f, err := readIndex(bytes.NewReader(zstdOf(t, "{}\n")), int64(len(zstdOf(t, "{}\n")))); f != nil || err != nil {
		t.Errorf("a segment without an index: %+v, %v", f, err)
	}
	bad, err := appendIndex(zstdOf(t, "{}\n"), []frameRef{{First: "2-0", Offset: 0}, {First: "1-0", Offset: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readIndex(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("frames out of order: %v", err)
	}
}

// FuzzReadIndex: any bytes give an index, none, or ErrCorrupt, never a
// panic, and an index's frames are in order within the segment.
func FuzzReadIndex(f *testing.F) {
	f.Add(encodeSegment(f, Record{ID: "1-0", Account: "a", Day: "2026-12-01", Price: 5}))
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := readIndex(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
				t.Fatalf("error %v", err)
			}
			return
		}
		for i, fr := range frames {
			if fr.Offset < 0 || fr.Offset >= int64(len(b)) || (i > 0 && fr.Offset <= frames[i-1].Offset) {
				t.Fatalf("frames %+v", frames)
			}
		}
	})
}
