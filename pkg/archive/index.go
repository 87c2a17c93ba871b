package archive

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// A segment's frames and its index. The writer ends a zstd frame every
// frameRecords records and ends the segment with a zstd skippable frame
// (which every zstd decoder passes over, so zstdcat and NewSegmentReader
// read the records as before) holding the index: the offset and the first
// record id of each frame. A page of an archived day reads the index (its
// last bytes first: indexFooter) and decodes from the frame that holds the
// page's first record, not from the segment's start, so paging through a
// day reads it about once. Segments written before the index have none and
// are read from their start.

// frameRecords is how many records one frame of a segment holds at most.
const frameRecords = 256

// indexMagic ends a segment that has an index; skippableMagic begins the
// skippable frame that holds it (RFC 8878 §3.1.2, its first magic number).
const (
	indexMagic     = "PCSEGIX1"
	skippableMagic = 0x184D2A50
	// indexFooter is what follows the index's JSON: the skippable frame's
	// size in all (8 bytes, little-endian), then indexMagic.
	indexFooter = 16
	// maxIndexBytes bounds the index a reader accepts.
	maxIndexBytes = 64 << 20
)

// frameRef locates one frame of a segment.
type frameRef struct {
	// First is the stream id of the frame's first record.
	First string `json:"first"`
	// Offset is where the frame starts in the segment.
	Offset int64 `json:"offset"`
}

// segmentIndex is the JSON the index frame holds.
type segmentIndex struct {
	Frames []frameRef `json:"frames"`
}

// appendIndex returns b followed by the skippable frame holding frames.
func appendIndex(b []byte, frames []frameRef) ([]byte, error) {
	body, err := json.Marshal(segmentIndex{Frames: frames})
	if err != nil {
		return nil, err
	}
	payload := len(body) + indexFooter
	b = binary.LittleEndian.AppendUint32(b, skippableMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(payload))
	b = append(b, body...)
	b = binary.LittleEndian.AppendUint64(b, uint64(8+payload))
	return append(b, indexMagic...), nil
}

// readIndex reads the index at the end of the segment rs of size bytes; a
// segment without one gives nil, nil. An index that does not describe the
// segment's frames (offsets out of order or past the index) is ErrCorrupt.
func readIndex(rs io.ReadSeeker, size int64) ([]frameRef, error) {
	if size < 8+indexFooter {
		return nil, nil
	}
	var foot [indexFooter]byte
	if _, err := rs.Seek(size-indexFooter, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rs, foot[:]); err != nil {
		return nil, err
	}
	if string(foot[8:]) != indexMagic {
		return nil, nil
	}
	total := binary.LittleEndian.Uint64(foot[:8])
	if total < 8+indexFooter || total > uint64(size) || total > maxIndexBytes {
		return nil, fmt.Errorf("%w: segment index of %d bytes in a segment of %d", ErrCorrupt, total, size)
	}
	start := size - int64(total)
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	b := make([]byte, total)
	if _, err := io.ReadFull(rs, b); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(b) != skippableMagic || uint64(binary.LittleEndian.Uint32(b[4:]))+8 != total {
		return nil, fmt.Errorf("%w: segment index frame header", ErrCorrupt)
	}
	var ix segmentIndex
	if err := json.Unmarshal(b[8:len(b)-indexFooter], &ix); err != nil {
		return nil, fmt.Errorf("%w: segment index: %v", ErrCorrupt, err)
	}
	for i, f := range ix.Frames {
		if f.Offset < 0 || f.Offset >= start || (i > 0 && (f.Offset <= ix.Frames[i-1].Offset || compareIDs(f.First, ix.Frames[i-1].First) <= 0)) {
			return nil, fmt.Errorf("%w: segment index frame %d", ErrCorrupt, i)
		}
	}
	return ix.Frames, nil
}

// frameAfter returns the frame that holds the first record after the
// stream id after: the last frame whose first record is not after it, or
// the first frame; the zero frameRef (the segment's start) for none.
func frameAfter(frames []frameRef, after string) frameRef {
	var at frameRef
	for i, f := range frames {
		if i > 0 && compareIDs(f.First, after) > 0 {
			break
		}
		at = f
	}
	return at
}
