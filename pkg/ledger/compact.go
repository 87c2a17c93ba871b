package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// The compact record. A commitment is stored as three parts:
//
//   - a profile: what one crawler repeats on every request it signs the same
//     way (agent, key id, label, dialect, method, scheme, currency, the
//     Signature-Input and Signature with their per-request values cut out,
//     the covered header names, the Signature-Agent value and the Payment
//     value but for its offer id);
//   - a target: the publisher and the site the request was for;
//   - the record in the stream entry: what varies per request, in a binary
//     form (varints, raw bytes of base64 and hex strings, times as
//     offsets), and the indexes of its profile and its target.
//
// Profiles and targets are entries of the crawler-day's dictionary, the
// hash <p>:{<a>}:pr:<day>: the append script numbers each new entry (field
// "n" counts them), stores it under its number (decimal) and the number
// under "h" and the entry's id (the first 16 bytes of the SHA-256 of its
// encoding), and writes the record as its format byte, the two numbers
// (uvarints) and the body the client encoded (recordV2). Each entry is
// stored once per crawler-day, and a record names it in one or two bytes.
//
// Decoding gives back every field exactly, byte for byte, so the signature
// base can be rebuilt and the signature re-verified offline. The encoding
// is canonical enough for that and no more: whatever a value is, it
// round-trips, because a value is only stored in a packed form when the
// packed form gives back the same string.
//
// The body ends with optional fields: each a tag (uvarint, never 0, never
// reused) and a length-prefixed value. A record without them reads as
// before, so a field can be added without touching stored records; a reader
// refuses a tag it does not know rather than drop what it holds.
//
// Records of format 1 (one profile named by its 16-byte id, publisher and
// site in the record; the hash held the profile under that id) and JSON
// records of older ledgers (they begin with '{') still read back.
//
// Optional field 1 is the agreement that decided the charge (putAgreement):
// a commitment without one has no optional field. Format-1 records of the
// ledgers that first recorded agreements carry the same fields after their
// replay ids, untagged.

// Format bytes.
const (
	recordV1 = 1 // format 1: written by ledgers before format 2, read only
	recordV2 = 2
	// Dictionary entries begin with their kind.
	profileV1 = 1
	targetV1  = 2
)

// profileIDLen is the length of a profile id (bytes of SHA-256).
const profileIDLen = 16

// Markers that stand, in a profile's template, for a value cut out into the
// record. validText refuses control characters in the strings templated, so
// a marker can never be confused with the text around it.
const (
	markInt    = 0x01 // decimal integer: signed varint, offset from the received second
	markRaw    = 0x02 // any text: length and bytes
	markStd    = 0x03 // base64 (standard, padded): length and decoded bytes
	markRawStd = 0x04 // base64 (standard, unpadded)
	markURL    = 0x05 // base64url (padded)
	markRawURL = 0x06 // base64url (unpadded)
)

// b64 holds the encodings of the base64 marks, from markStd on.
var b64 = [...]*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// Kinds of a packed text (putText).
const (
	textRaw    = 0 // length and bytes
	textHex    = 1 // lower-case hex of an even length: length and bytes
	textTagged = 2 // "<tag>:<base64url unpadded>": tag, then length and bytes
	textSite   = 3 // equal to the record's site (authority only)
	// Replay ids that the record's own fields give back (see derivedIDs).
	textNonceID = 4
	textSigID   = 5
)

// profileHeaders are the covered headers whose values are kept in the
// profile: they name the signer and repeat on every request. Every other
// covered value is kept in the record.
var profileHeaders = map[string]bool{"signature-agent": true}

// profile is the per-crawler-day part of a commitment.
type profile struct {
	Agent, KeyID, Label, Dialect, Method, Scheme, Currency string
	// InputTemplate and SigTemplate are Signature-Input and Signature with
	// each per-request value replaced by its marker.
	InputTemplate, SigTemplate string
	// Names are the covered header names, sorted; Kinds[i] says where
	// Names[i]'s value is (see the covered kinds), Values[i] holds it or its
	// template, or "" when it is in the record.
	Names, Values []string
	Kinds         []byte
}

// Where a covered value is kept (profile.Kinds).
const (
	coveredProfile = 0 // in the profile
	coveredRecord  = 1 // in the record
	coveredOffer   = 2 // in the profile, markOffer standing for the offer id
)

// markOffer stands for the record's offer id in a covered value's template:
// the deferred dialect's Payment header names the offer answered
// (id="<offer id>") and repeats otherwise.
const markOffer = 0x07

// span is a per-request value cut out of a template.
type span struct {
	mark byte
	text string // markRaw: the text
	raw  []byte // base64 marks: the decoded bytes
	n    int64  // markInt: the value minus the received unix second
}

// target is the dictionary entry that names what a request was for.
type target struct {
	Publisher, Site string
}

// appendTarget appends the encoding of the target (publisher, site).
func appendTarget(b []byte, publisher, site string) []byte {
	return putStr(putStr(append(b, targetV1), publisher), site)
}

func decodeTarget(b []byte) (*target, error) {
	r := &reader{b: b}
	if r.byte1() != targetV1 {
		return nil, errCorrupt
	}
	t := &target{Publisher: r.str(), Site: r.str()}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return t, nil
}

// compacted is a commitment's compact form: its dictionary entries, and its
// record's body.
type compacted struct {
	prof, tgt *entry
	body      []byte
}

// entry is a dictionary entry's encoding and its id, with both boxed once
// as script arguments. Entries are shared (see entries): never modify one.
type entry struct {
	enc    []byte
	id     string
	encArg any // enc
	idArg  any // id
}

func newEntry(enc []byte) *entry {
	e := &entry{enc: bytes.Clone(enc)}
	e.id = entryID(e.enc)
	e.encArg, e.idArg = e.enc, e.id
	return e
}

// entries interns the dictionary entries a Ledger encodes: a crawler signs
// every request the same way, so its profile and its target encode to the
// same bytes each time, and an append finds them here instead of copying
// and hashing them again. It holds at most entriesMax, then starts over.
// The nil *entries interns nothing.
type entries struct {
	mu sync.Mutex
	m  map[string]*entry
}

const entriesMax = 4096

func (es *entries) intern(enc []byte) *entry {
	if es == nil {
		return newEntry(enc)
	}
	es.mu.Lock()
	e, ok := es.m[string(enc)]
	es.mu.Unlock()
	if ok {
		return e
	}
	e = newEntry(enc)
	es.mu.Lock()
	if es.m == nil || len(es.m) >= entriesMax {
		es.m = make(map[string]*entry)
	}
	es.m[string(e.enc)] = e
	es.mu.Unlock()
	return e
}

// entryID is a dictionary entry's id: the first profileIDLen bytes of the
// SHA-256 of its encoding.
func entryID(e []byte) string {
	sum := sha256.Sum256(e)
	return string(sum[:profileIDLen])
}

// storedRecord is the record the append script stores: the format byte,
// the numbers of the profile and the target, the body (as append.lua
// builds it).
func storedRecord(prof, tgt uint64, body []byte) string {
	b := []byte{recordV2}
	b = binary.AppendUvarint(b, prof)
	b = binary.AppendUvarint(b, tgt)
	return string(append(b, body...))
}

// scratch is compact's working space, reused through scratchPool, so that
// encoding a commitment allocates little more than its record's body.
type scratch struct {
	in, sig      []byte   // c.SignatureInput and c.Signature, as bytes
	inSp, sigSp  [][2]int // their per-request values
	inVal, sigVl []span   // the values cut out of them
	raw          []byte   // decoded bytes of base64 values, back to back
	enc          []byte   // a re-encoding, for canonical checks; hash input
	names        []string // the covered header names, sorted
	prof, tgt    []byte   // the dictionary entries
	body         []byte   // the record's body
	nonceID      [idLen]byte
	sigID        [idLen]byte
}

// idLen is the length of a replay id derivedIDs gives: a two-byte prefix
// and 22 characters of base64url.
const idLen = 2 + 22

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// compact splits c into its dictionary entries and its record's body,
// without interning the entries.
func (c *Commitment) compact() (*compacted, error) { return c.compactIn(nil) }

// compactIn is compact, with the entries interned in es.
func (c *Commitment) compactIn(es *entries) (*compacted, error) {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	sec := c.Received.Unix()
	s.in = append(s.in[:0], c.SignatureInput...)
	s.sig = append(s.sig[:0], c.Signature...)
	s.inSp = inputSpans(s.inSp[:0], c.SignatureInput)
	s.sigSp = sigSpans(s.sigSp[:0], c.Signature)
	s.raw = s.raw[:0]
	s.inVal = s.packValues(s.inVal[:0], c.SignatureInput, s.in, s.inSp, sec)
	s.sigVl = s.packValues(s.sigVl[:0], c.Signature, s.sig, s.sigSp, sec)

	s.names = s.names[:0]
	for name := range c.Covered {
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	b := append(s.prof[:0], profileV1)
	for _, v := range [...]string{c.Agent, c.KeyID, c.Label, c.Dialect, c.Method, c.Scheme, c.Currency} {
		b = putStr(b, v)
	}
	b = putTemplate(b, c.SignatureInput, s.inSp, s.inVal)
	b = putTemplate(b, c.Signature, s.sigSp, s.sigVl)
	b = binary.AppendUvarint(b, uint64(len(s.names)))
	for _, name := range s.names {
		b = putStr(b, name)
		v := c.Covered[name]
		switch kind := coveredKind(name, v, c.OfferID); kind {
		case coveredProfile:
			b = putStr(append(b, kind), v)
		case coveredOffer:
			b = putReplaced(append(b, kind), v, c.OfferID, markOffer)
		default:
			b = append(b, kind)
		}
	}
	s.prof = b
	s.tgt = appendTarget(s.tgt[:0], c.Publisher, c.Site)

	b = binary.AppendUvarint(s.body[:0], uint64(c.Received.UTC().Sub(dayStart(c.Received))))
	b = putText(b, c.RequestID, "")
	b = putText(b, c.Authority, c.Site)
	b = putStr(b, c.Path)
	b = binary.AppendUvarint(b, uint64(c.Price))
	b = putText(b, c.OfferID, "")
	b = putSpans(b, s.inVal)
	b = putSpans(b, s.sigVl)
	for _, name := range s.names {
		if v := c.Covered[name]; coveredKind(name, v, c.OfferID) == coveredRecord {
			b = putStr(b, v)
		}
	}
	nonceID, sigID := s.derivedIDs(c.KeyID)
	if len(c.ReplayIDs) == 2 && c.ReplayIDs[0] == string(nonceID) && c.ReplayIDs[1] == string(sigID) {
		// What the gateway gives for a signature with a nonce: one byte.
		b = append(b, replayDerived)
	} else {
		b = binary.AppendUvarint(b, uint64(len(c.ReplayIDs)))
		for _, id := range c.ReplayIDs {
			switch {
			case id == string(nonceID):
				b = append(b, textNonceID)
			case id == string(sigID):
				b = append(b, textSigID)
			default:
				b = putText(b, id, "")
			}
		}
	}
	b = c.putAgreement(b)
	s.body = b
	if n := len(b) + 1 + 2*binary.MaxVarintLen32; n > maxRecord || len(s.prof) > maxRecord {
		return nil, fmt.Errorf("%w: commitment record of %d bytes, limit %d", ErrInvalid, n+len(s.prof), maxRecord)
	}
	return &compacted{prof: es.intern(s.prof), tgt: es.intern(s.tgt), body: bytes.Clone(b)}, nil
}

// coveredKind says where the covered value v of header name is kept.
func coveredKind(name, v, offerID string) byte {
	switch {
	case profileHeaders[name]:
		return coveredProfile
	case len(offerID) >= 4 && strings.Contains(v, offerID) && !strings.ContainsRune(v, markOffer):
		return coveredOffer
	}
	return coveredRecord
}

// putReplaced appends, as putStr would, s with every old replaced by the
// byte mark (strings.ReplaceAll's result, without building it).
func putReplaced(b []byte, s, old string, mark byte) []byte {
	n := strings.Count(s, old)
	b = binary.AppendUvarint(b, uint64(len(s)-n*(len(old)-1)))
	for i := 0; i < n; i++ {
		j := strings.Index(s, old)
		b = append(append(b, s[:j]...), mark)
		s = s[j+len(old):]
	}
	return append(b, s...)
}

// putTemplate appends, as putStr would, s with each of its spans replaced
// by the marker of its value.
func putTemplate(b []byte, s string, spans [][2]int, vals []span) []byte {
	n := len(s)
	for _, sp := range spans {
		n -= sp[1] - sp[0] - 1
	}
	b = binary.AppendUvarint(b, uint64(n))
	last := 0
	for i, sp := range spans {
		b = append(append(b, s[last:sp[0]]...), vals[i].mark)
		last = sp[1]
	}
	return append(b, s[last:]...)
}

// replayDerived, as the count of a record's replay ids (which is never 0),
// stands for the two ids derivedIDs gives, in that order.
const replayDerived = 0

// dayStart is the UTC midnight that begins t's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// errCorrupt is what a malformed compact record or profile gives.
var errCorrupt = errors.New("malformed compact record")

// reader reads a compact encoding; the first error sticks and every later
// read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = errCorrupt, nil }

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads a zig-zag signed varint (binary.AppendVarint's encoding).
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a length and checks that at least that many bytes follow
// (each counted item takes at least one byte), so that no hostile length
// makes a reader allocate.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail()
	}
	return int(n)
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes(r.count())) }

// putStr appends s's length and bytes.
func putStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// putText appends s packed by its form (see the text kinds); site is the
// value textSite stands for ("" for none).
func putText(b []byte, s, site string) []byte {
	switch {
	case site != "" && s == site:
		return append(b, textSite)
	case len(s) >= 2 && len(s)%2 == 0 && isLowerHex(s):
		b = binary.AppendUvarint(append(b, textHex), uint64(len(s)/2))
		for i := 0; i < len(s); i += 2 {
			b = append(b, unhex(s[i])<<4|unhex(s[i+1]))
		}
		return b
	}
	if tag, body, ok := strings.Cut(s, ":"); ok && body != "" {
		if raw, ok := canonicalBase64(base64.RawURLEncoding, body); ok {
			b = putStr(append(b, textTagged), tag)
			return putStr(b, string(raw))
		}
	}
	return putStr(append(b, textRaw), s)
}

// canonicalBase64 decodes s if enc encodes the result back to s.
func canonicalBase64(enc *base64.Encoding, s string) ([]byte, bool) {
	raw, err := enc.DecodeString(s)
	return raw, err == nil && enc.EncodeToString(raw) == s
}

func (r *reader) text(site string) string {
	switch r.byte1() {
	case textRaw:
		return r.str()
	case textHex:
		raw := r.bytes(r.count())
		const digits = "0123456789abcdef"
		out := make([]byte, 2*len(raw))
		for i, c := range raw {
			out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
		}
		return string(out)
	case textTagged:
		tag := r.str()
		raw := r.bytes(r.count())
		return tag + ":" + base64.RawURLEncoding.EncodeToString(raw)
	case textSite:
		return site
	}
	r.fail()
	return ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// derivedIDs returns the replay ids that the protocol layer derives from a
// signature (pkg/deferred.ReplayIDs): "n:" and the base64url of the first
// 16 bytes of SHA-256(keyid, 0, nonce) for the Signature-Input's nonce, and
// "s:" and the same of SHA-256(signature bytes) for the first byte sequence
// of the Signature; "" for one that cannot be derived. A record stores such
// an id as one byte, and only when it equals what this gives back.
func derivedIDs(keyID, input, sig string) (nonceID, sigID string) {
	var buf [idLen]byte
	if nonce, ok := nonceOf(input, inputSpans(nil, input)); ok {
		nonceID = string(appendNonceID(buf[:0], keyID, nonce, nil))
	}
	if sp := sigSpans(nil, sig); len(sp) > 0 {
		if raw, ok := canonicalBase64(base64.StdEncoding, sig[sp[0][0]:sp[0][1]]); ok {
			sigID = string(appendSigID(buf[:0], raw))
		}
	}
	return nonceID, sigID
}

// derivedIDs is derivedIDs of the commitment s holds: its ids are in s, and
// valid until s is used again; nil for one that cannot be derived.
func (s *scratch) derivedIDs(keyID string) (nonceID, sigID []byte) {
	if nonce, ok := nonceOf(string(s.in), s.inSp); ok {
		s.enc = s.enc[:0]
		nonceID = appendNonceID(s.nonceID[:0], keyID, nonce, &s.enc)
	}
	if len(s.sigVl) == 0 {
		return nonceID, nil
	}
	// A value that is not an integer packs as standard base64 exactly when
	// it is canonical standard base64: packValue tries that encoding first.
	switch v := s.sigVl[0]; v.mark {
	case markStd:
		sigID = appendSigID(s.sigID[:0], v.raw)
	case markInt:
		sp := s.sigSp[0]
		if raw, ok := canonicalBase64(base64.StdEncoding, string(s.sig[sp[0]:sp[1]])); ok {
			sigID = appendSigID(s.sigID[:0], raw)
		}
	}
	return nonceID, sigID
}

// nonceOf returns the first value of spans that is a nonce parameter's.
func nonceOf(input string, spans [][2]int) (string, bool) {
	for _, sp := range spans {
		if strings.HasSuffix(input[:sp[0]], `;nonce="`) {
			return input[sp[0]:sp[1]], true
		}
	}
	return "", false
}

// appendNonceID appends the nonce replay id of (keyID, nonce) to b; the
// hash's input is built in *tmp when not nil.
func appendNonceID(b []byte, keyID, nonce string, tmp *[]byte) []byte {
	var in []byte
	if tmp != nil {
		in = *tmp
	}
	in = append(append(append(in[:0], keyID...), 0), nonce...)
	if tmp != nil {
		*tmp = in
	}
	sum := sha256.Sum256(in)
	return base64.RawURLEncoding.AppendEncode(append(b, "n:"...), sum[:16])
}

// appendSigID appends the signature replay id of the signature bytes raw
// to b.
func appendSigID(b, raw []byte) []byte {
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.AppendEncode(append(b, "s:"...), sum[:16])
}

// inputSpans appends to dst the per-request values of a Signature-Input
// member: the digits of ;created= and ;expires=, and the content of
// ;nonce="…" (without escapes). Spans are [start, end) byte offsets, in
// order.
func inputSpans(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); i++ {
		if s[i] != ';' {
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "created=") || strings.HasPrefix(rest, "expires="):
			start := i + 1 + len("created=")
			end := start
			for end < len(s) && s[end] >= '0' && s[end] <= '9' {
				end++
			}
			if end > start {
				dst = append(dst, [2]int{start, end})
				i = end - 1
			}
		case strings.HasPrefix(rest, `nonce="`):
			start := i + 1 + len(`nonce="`)
			end := strings.IndexByte(s[start:], '"')
			if end <= 0 {
				continue
			}
			end += start
			if !strings.ContainsRune(s[start:end], '\\') {
				dst = append(dst, [2]int{start, end})
				i = end
			}
		}
	}
	return dst
}

// sigSpans appends to dst the byte sequences (":…:") of a Signature member.
func sigSpans(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		end := strings.IndexByte(s[i+1:], ':')
		if end < 0 {
			break
		}
		end += i + 1
		if end > i+1 {
			dst = append(dst, [2]int{i + 1, end})
		}
		i = end
	}
	return dst
}

// packValues appends to vals the span of each of spans of str (whose bytes
// are b).
func (s *scratch) packValues(vals []span, str string, b []byte, spans [][2]int, sec int64) []span {
	for _, sp := range spans {
		vals = append(vals, s.packValue(str[sp[0]:sp[1]], b[sp[0]:sp[1]], sec))
	}
	return vals
}

// packValue returns the most compact span of v (whose bytes are vb): an
// integer when v is canonical decimal digits, decoded bytes when v is
// base64 that encodes back to v, the text otherwise. Decoded bytes are kept
// in s.raw.
func (s *scratch) packValue(v string, vb []byte, sec int64) span {
	if n, ok := parseCanonicalInt(v); ok {
		if d := n - sec; (d < 0) == (n < sec) { // no overflow
			return span{mark: markInt, n: d}
		}
	}
	for i, enc := range b64 {
		start := len(s.raw)
		out, err := enc.AppendDecode(s.raw, vb)
		if err != nil || len(out) == start {
			continue
		}
		s.enc = enc.AppendEncode(s.enc[:0], out[start:])
		if bytes.Equal(s.enc, vb) {
			s.raw = out
			return span{mark: markStd + byte(i), raw: out[start:len(out):len(out)]}
		}
	}
	return span{mark: markRaw, text: v}
}

// parseCanonicalInt returns v's value if v is a canonical decimal int64:
// digits, an optional leading '-', no leading zero, in range.
func parseCanonicalInt(v string) (int64, bool) {
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || len(digits) > 19 || (digits[0] == '0' && len(v) > 1) {
		return 0, false
	}
	var u uint64 // at most 19 digits: below 2^64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch neg := len(digits) < len(v); {
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

func putSpans(b []byte, vals []span) []byte {
	for _, v := range vals {
		switch v.mark {
		case markInt:
			b = binary.AppendVarint(b, v.n)
		case markRaw:
			b = putStr(b, v.text)
		default:
			b = binary.AppendUvarint(b, uint64(len(v.raw)))
			b = append(b, v.raw...)
		}
	}
	return b
}

// fillTemplate rebuilds a string from its template, reading the values of
// its markers from r.
func (r *reader) fillTemplate(tpl string, sec int64) string {
	if strings.IndexFunc(tpl, func(c rune) bool { return c >= markInt && c <= markRawURL }) < 0 {
		return tpl
	}
	var out strings.Builder
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		switch {
		case c == markInt:
			out.WriteString(strconv.FormatInt(sec+r.varint(), 10))
		case c == markRaw:
			out.WriteString(r.str())
		case c >= markStd && c <= markRawURL:
			out.WriteString(b64[c-markStd].EncodeToString(r.bytes(r.count())))
		default:
			out.WriteByte(c)
		}
		if r.err != nil {
			return ""
		}
	}
	return out.String()
}

func decodeProfile(b []byte) (*profile, error) {
	r := &reader{b: b}
	if r.byte1() != profileV1 {
		return nil, errCorrupt
	}
	p := &profile{}
	for _, s := range []*string{&p.Agent, &p.KeyID, &p.Label, &p.Dialect, &p.Method, &p.Scheme, &p.Currency, &p.InputTemplate, &p.SigTemplate} {
		*s = r.str()
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		p.Names = append(p.Names, r.str())
		switch k := r.byte1(); k {
		case coveredRecord:
			p.Values, p.Kinds = append(p.Values, ""), append(p.Kinds, k)
		case coveredProfile, coveredOffer:
			p.Values, p.Kinds = append(p.Values, r.str()), append(p.Kinds, k)
		default:
			r.fail()
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

// dict gives a crawler-day's dictionary entries to the records that name
// them.
type dict interface {
	// profileByID returns the profile a format-1 record names by its id.
	profileByID(id string) (*profile, error)
	// entry returns the decoded entry of number n: a *profile or a *target.
	entry(n uint64) (any, error)
}

// decodeEntry decodes a dictionary entry by its kind.
func decodeEntry(b []byte) (any, error) {
	if len(b) > 0 && b[0] == targetV1 {
		return decodeTarget(b)
	}
	return decodeProfile(b)
}

// compactRecord reports whether a stream entry's record is compact (of
// format 1 or 2) rather than JSON.
func compactRecord(rec string) bool {
	return len(rec) > 0 && (rec[0] == recordV1 || rec[0] == recordV2)
}

// decodeCompact rebuilds a commitment of day from its compact record and
// the crawler-day's dictionary. The commitment's ID, Day and Account are
// left to the caller.
func decodeCompact(rec string, day string, d dict) (*Commitment, error) {
	start, err := parseDay(day)
	if err != nil {
		return nil, err
	}
	r := &reader{b: []byte(rec)}
	var (
		p   *profile
		t   *target
		ver = r.byte1()
	)
	switch ver {
	case recordV1:
		id := r.bytes(profileIDLen)
		if r.err != nil {
			return nil, r.err
		}
		if p, err = d.profileByID(string(id)); err != nil {
			return nil, err
		}
	case recordV2:
		pn, tn := r.uvarint(), r.uvarint()
		if r.err != nil {
			return nil, r.err
		}
		pe, err := d.entry(pn)
		if err != nil {
			return nil, err
		}
		te, err := d.entry(tn)
		if err != nil {
			return nil, err
		}
		var ok1, ok2 bool
		p, ok1 = pe.(*profile)
		t, ok2 = te.(*target)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: entries %d and %d are not a profile and a target", errCorrupt, pn, tn)
		}
	default:
		return nil, errCorrupt
	}
	ns := r.uvarint()
	if ns >= uint64(24*time.Hour) {
		r.fail()
	}
	received := start.Add(time.Duration(ns))
	sec := received.Unix()
	c := &Commitment{Received: received, Agent: p.Agent, KeyID: p.KeyID, Label: p.Label,
		Dialect: p.Dialect, Method: p.Method, Scheme: p.Scheme, Currency: p.Currency}
	c.RequestID = r.text("")
	if ver == recordV1 {
		c.Publisher = r.str()
		c.Site = r.str()
	} else {
		c.Publisher, c.Site = t.Publisher, t.Site
	}
	c.Authority = r.text(c.Site)
	c.Path = r.str()
	price := r.uvarint()
	if price > uint64(MaxAmount) {
		r.fail()
	}
	c.Price = money.Micros(price)
	c.OfferID = r.text("")
	c.SignatureInput = r.fillTemplate(p.InputTemplate, sec)
	c.Signature = r.fillTemplate(p.SigTemplate, sec)
	if len(p.Names) > 0 {
		c.Covered = make(map[string]string, len(p.Names))
		for i, name := range p.Names {
			switch p.Kinds[i] {
			case coveredRecord:
				c.Covered[name] = r.str()
			case coveredOffer:
				c.Covered[name] = strings.ReplaceAll(p.Values[i], string(rune(markOffer)), c.OfferID)
			default:
				c.Covered[name] = p.Values[i]
			}
		}
	}
	n := r.count()
	var derived *[2]string
	derive := func() *[2]string {
		if derived == nil {
			nonceID, sigID := derivedIDs(c.KeyID, c.SignatureInput, c.Signature)
			derived = &[2]string{nonceID, sigID}
		}
		return derived
	}
	if n == replayDerived && ver == recordV2 && r.err == nil {
		d := derive()
		if d[0] == "" || d[1] == "" {
			r.fail()
		}
		c.ReplayIDs = []string{d[0], d[1]}
	}
	for i := 0; i < n && r.err == nil; i++ {
		if len(r.b) == 0 || (r.b[0] != textNonceID && r.b[0] != textSigID) {
			c.ReplayIDs = append(c.ReplayIDs, r.text(""))
			continue
		}
		id := derive()[r.byte1()-textNonceID]
		if id == "" {
			r.fail()
		}
		c.ReplayIDs = append(c.ReplayIDs, id)
	}
	if ver == recordV1 {
		r.agreement(c) // untagged, as the first ledgers with agreements wrote it
	}
	for ver == recordV2 && r.err == nil && len(r.b) > 0 {
		tag := r.uvarint()
		val := r.bytes(r.count())
		if r.err != nil {
			break
		}
		if tag != fieldAgreement || c.AgreementID != "" {
			return nil, fmt.Errorf("%w: optional field %d unknown to this reader or repeated", errCorrupt, tag)
		}
		fr := &reader{b: val}
		fr.agreementFields(c)
		if fr.err == nil && len(fr.b) != 0 {
			fr.fail()
		}
		if fr.err != nil {
			return nil, fr.err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// parseDay returns the UTC midnight of day ("2006-01-02").
func parseDay(day string) (time.Time, error) {
	t, err := time.Parse(dayLayout, day)
	if err != nil {
		return time.Time{}, errCorrupt
	}
	return t, nil
}

// sectionAgreement begins the agreement section of a format-1 record: the
// agreement id, its version, the list price, the charge kind's code
// (chargeCodes) and the amount drawn. In format 2 the same fields are the
// value of the optional field fieldAgreement.
const (
	sectionAgreement = 1
	fieldAgreement   = 1
)

// putAgreement appends c's agreement as the optional field fieldAgreement,
// if c has an agreement.
func (c *Commitment) putAgreement(b []byte) []byte {
	if c.AgreementID == "" {
		return b
	}
	v := putStr(nil, c.AgreementID)
	v = binary.AppendUvarint(v, uint64(c.AgreementVersion))
	v = binary.AppendUvarint(v, uint64(c.ListPrice))
	v = append(v, chargeCode(c.Charge))
	v = binary.AppendUvarint(v, uint64(c.Drawn))
	b = binary.AppendUvarint(b, fieldAgreement)
	return putStr(b, string(v))
}

// agreement reads the agreement section of a format-1 record into c, if
// the record has one.
func (r *reader) agreement(c *Commitment) {
	if r.err != nil || len(r.b) == 0 {
		return
	}
	if r.byte1() != sectionAgreement {
		r.fail()
		return
	}
	r.agreementFields(c)
}

// agreementFields reads the agreement's fields into c.
func (r *reader) agreementFields(c *Commitment) {
	c.AgreementID = r.str()
	version, list := r.uvarint(), r.uvarint()
	code := r.byte1()
	drawn := r.uvarint()
	if c.AgreementID == "" || version < 1 || version > uint64(MaxAmount) || list > uint64(MaxAmount) ||
		drawn > uint64(MaxAmount) || code == 0 || int(code) >= len(chargeCodes) {
		r.fail()
		return
	}
	c.AgreementVersion, c.ListPrice, c.Charge, c.Drawn = int64(version), money.Micros(list), chargeCodes[code], money.Micros(drawn)
}
