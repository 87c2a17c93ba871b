package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Bounds of a segment reader, against a corrupt or hostile segment.
const (
	// MaxRecordBytes bounds one NDJSON line.
	MaxRecordBytes = 1 << 20
	// maxWindow bounds the zstd window a reader accepts (the writer's
	// default level uses 8 MiB).
	maxWindow = 64 << 20
)

// ErrCorrupt reports a segment or manifest that does not decode, or whose
// content disagrees with what describes it.
var ErrCorrupt = errors.New("archive: corrupt")

// segmentWriter encodes records as zstd NDJSON onto w, a frame every
// frameRecords records, and ends with the frames' index (see index.go).
type segmentWriter struct {
	enc    *zstd.Encoder
	w      *countWriter
	line   []byte
	n      int // records in the current frame
	frames []frameRef
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newSegmentWriter(w io.Writer) (*segmentWriter, error) {
	cw := &countWriter{w: w}
	enc, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	return &segmentWriter{enc: enc, w: cw}, nil
}

// write appends one record line.
func (s *segmentWriter) write(r *Record) error {
	if s.n == frameRecords {
		if err := s.enc.Close(); err != nil { // ends the frame
			return err
		}
		s.enc.Reset(s.w)
		s.n = 0
	}
	if s.n == 0 {
		s.frames = append(s.frames, frameRef{First: r.ID, Offset: s.w.n})
	}
	s.n++
	b := bytes.NewBuffer(s.line[:0])
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	if err := e.Encode(r); err != nil { // Encode ends the line with '\n'
		return err
	}
	s.line = b.Bytes()
	_, err := s.enc.Write(s.line)
	return err
}

// close ends the last frame and writes the index (it does not close the
// underlying writer).
func (s *segmentWriter) close() error {
	if err := s.enc.Close(); err != nil {
		return err
	}
	b, err := appendIndex(nil, s.frames)
	if err != nil {
		return err
	}
	_, err = s.w.Write(b)
	return err
}

// SegmentReader decodes a segment's records in order. It bounds its
// memory (MaxRecordBytes a line, a 64 MiB zstd window) and checks each
// frame's checksum, so a corrupt segment gives an error wrapping
// ErrCorrupt, never a panic.
type SegmentReader struct {
	dec  *zstd.Decoder
	sc   *bufio.Scanner
	line int
}

// NewSegmentReader reads the segment from r. Close releases it.
func NewSegmentReader(r io.Reader) (*SegmentReader, error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(maxWindow*2))
	if err != nil {
		return nil, fmt.Errorf("%w: segment: %v", ErrCorrupt, err)
	}
	sc := bufio.NewScanner(dec)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordBytes)
	return &SegmentReader{dec: dec, sc: sc}, nil
}

// Next returns the next record, or io.EOF after the last.
func (s *SegmentReader) Next() (*Record, error) {
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		r := new(Record)
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%w: segment line %d: %v", ErrCorrupt, s.line, err)
		}
		return r, nil
	}
	if err := s.sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: segment after line %d: %v", ErrCorrupt, s.line, err)
	}
	return nil, io.EOF
}

// Close releases the decoder; it does not close the underlying reader.
func (s *SegmentReader) Close() { s.dec.Close() }
