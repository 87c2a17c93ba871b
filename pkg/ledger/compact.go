package ledger

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	text string // markRaw: the text; base64 marks: the decoded bytes
	n    int64  // markInt: the value minus the received unix second
}

// target is the dictionary entry that names what a request was for.
type target struct {
	Publisher, Site string
}

func (t *target) encode() []byte {
	b := []byte{targetV1}
	b = putStr(b, t.Publisher)
	return putStr(b, t.Site)
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

// compacted is a commitment's compact form: its dictionary entries with
// their ids, and its record's body.
type compacted struct {
	prof, tgt     []byte
	profID, tgtID string
	body          []byte
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

// compact splits c into its dictionary entries and its record's body.
func (c *Commitment) compact() (*compacted, error) {
	sec := c.Received.Unix()
	inTpl, inVals := cutTemplate(c.SignatureInput, inputSpans(c.SignatureInput), sec)
	sigTpl, sigVals := cutTemplate(c.Signature, sigSpans(c.Signature), sec)
	p := profile{Agent: c.Agent, KeyID: c.KeyID, Label: c.Label, Dialect: c.Dialect,
		Method: c.Method, Scheme: c.Scheme, Currency: c.Currency,
		InputTemplate: inTpl, SigTemplate: sigTpl}
	for name := range c.Covered {
		p.Names = append(p.Names, name)
	}
	sort.Strings(p.Names)
	p.Values = make([]string, len(p.Names))
	p.Kinds = make([]byte, len(p.Names))
	for i, name := range p.Names {
		v := c.Covered[name]
		switch {
		case profileHeaders[name]:
			p.Values[i] = v
		case len(c.OfferID) >= 4 && strings.Contains(v, c.OfferID) && !strings.ContainsRune(v, markOffer):
			p.Kinds[i], p.Values[i] = coveredOffer, strings.ReplaceAll(v, c.OfferID, string(rune(markOffer)))
		default:
			p.Kinds[i] = coveredRecord
		}
	}
	out := &compacted{prof: p.encode(), tgt: (&target{Publisher: c.Publisher, Site: c.Site}).encode()}
	out.profID, out.tgtID = entryID(out.prof), entryID(out.tgt)

	b := make([]byte, 0, 160)
	b = binary.AppendUvarint(b, uint64(c.Received.UTC().Sub(dayStart(c.Received))))
	b = putText(b, c.RequestID, "")
	b = putText(b, c.Authority, c.Site)
	b = putStr(b, c.Path)
	b = binary.AppendUvarint(b, uint64(c.Price))
	b = putText(b, c.OfferID, "")
	b = putSpans(b, inVals)
	b = putSpans(b, sigVals)
	for i, name := range p.Names {
		if p.Kinds[i] == coveredRecord {
			b = putStr(b, c.Covered[name])
		}
	}
	nonceID, sigID := derivedIDs(c.KeyID, c.SignatureInput, c.Signature)
	if len(c.ReplayIDs) == 2 && c.ReplayIDs[0] == nonceID && c.ReplayIDs[1] == sigID {
		// What the gateway gives for a signature with a nonce: one byte.
		b = append(b, replayDerived)
	} else {
		b = binary.AppendUvarint(b, uint64(len(c.ReplayIDs)))
		for _, id := range c.ReplayIDs {
			switch {
			case id == nonceID:
				b = append(b, textNonceID)
			case id == sigID:
				b = append(b, textSigID)
			default:
				b = putText(b, id, "")
			}
		}
	}
	b = c.putAgreement(b)
	out.body = b
	if n := len(b) + 1 + 2*binary.MaxVarintLen32; n > maxRecord || len(out.prof) > maxRecord {
		return nil, fmt.Errorf("%w: commitment record of %d bytes, limit %d", ErrInvalid, n+len(out.prof), maxRecord)
	}
	return out, nil
}

// replayDerived, as the count of a record's replay ids (which is never 0),
// stands for the two ids derivedIDs gives, in that order.
const replayDerived = 0

// dayStart is the UTC midnight that begins t's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (p *profile) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, profileV1)
	for _, s := range []string{p.Agent, p.KeyID, p.Label, p.Dialect, p.Method, p.Scheme, p.Currency, p.InputTemplate, p.SigTemplate} {
		b = putStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Names)))
	for i, name := range p.Names {
		b = putStr(b, name)
		b = append(b, p.Kinds[i])
		if p.Kinds[i] != coveredRecord {
			b = putStr(b, p.Values[i])
		}
	}
	return b
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
		raw := make([]byte, len(s)/2)
		for i := range raw {
			raw[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
		}
		b = append(b, textHex)
		return putStr(b, string(raw))
	}
	if tag, body, ok := strings.Cut(s, ":"); ok && body != "" {
		if raw, err := base64.RawURLEncoding.DecodeString(body); err == nil && base64.RawURLEncoding.EncodeToString(raw) == body {
			b = append(b, textTagged)
			b = putStr(b, tag)
			return putStr(b, string(raw))
		}
	}
	b = append(b, textRaw)
	return putStr(b, s)
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
	for _, sp := range inputSpans(input) {
		if strings.HasSuffix(input[:sp[0]], `;nonce="`) {
			h := sha256.New()
			h.Write([]byte(keyID))
			h.Write([]byte{0})
			h.Write([]byte(input[sp[0]:sp[1]]))
			nonceID = "n:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
			break
		}
	}
	if sp := sigSpans(sig); len(sp) > 0 {
		v := sig[sp[0][0]:sp[0][1]]
		if raw, err := base64.StdEncoding.DecodeString(v); err == nil && base64.StdEncoding.EncodeToString(raw) == v {
			sum := sha256.Sum256(raw)
			sigID = "s:" + base64.RawURLEncoding.EncodeToString(sum[:16])
		}
	}
	return nonceID, sigID
}

// inputSpans finds the per-request values of a Signature-Input member: the
// digits of ;created= and ;expires=, and the content of ;nonce="…" (without
// escapes). Spans are [start, end) byte offsets, in order.
func inputSpans(s string) [][2]int {
	var out [][2]int
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
				out = append(out, [2]int{start, end})
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
				out = append(out, [2]int{start, end})
				i = end
			}
		}
	}
	return out
}

// sigSpans finds the byte sequences (":…:") of a Signature member.
func sigSpans(s string) [][2]int {
	var out [][2]int
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
			out = append(out, [2]int{i + 1, end})
		}
		i = end
	}
	return out
}

// cutTemplate replaces the spans of s by markers and returns the template
// and the values cut out, each in its most compact form that gives back the
// same text.
func cutTemplate(s string, spans [][2]int, sec int64) (string, []span) {
	if len(spans) == 0 {
		return s, nil
	}
	var tpl strings.Builder
	tpl.Grow(len(s))
	vals := make([]span, 0, len(spans))
	last := 0
	for _, sp := range spans {
		v := s[sp[0]:sp[1]]
		tpl.WriteString(s[last:sp[0]])
		last = sp[1]
		val := packValue(v, sec)
		tpl.WriteByte(val.mark)
		vals = append(vals, val)
	}
	tpl.WriteString(s[last:])
	return tpl.String(), vals
}

// packValue returns v's most compact span: an integer when v is canonical
// decimal digits, decoded bytes when v is base64 that encodes back to v, the
// text otherwise.
func packValue(v string, sec int64) span {
	if isInt(v) {
		n, _ := strconv.ParseInt(v, 10, 64)
		if d := n - sec; (d < 0) == (n < sec) { // no overflow
			return span{mark: markInt, n: d}
		}
	}
	for i, enc := range b64 {
		if raw, err := enc.DecodeString(v); err == nil && len(raw) > 0 && enc.EncodeToString(raw) == v {
			return span{mark: markStd + byte(i), text: string(raw)}
		}
	}
	return span{mark: markRaw, text: v}
}

// isInt reports whether v is a canonical decimal int64: digits, an optional
// leading '-', no leading zero, in range.
func isInt(v string) bool {
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || len(digits) > 19 || (digits[0] == '0' && len(v) > 1) {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == v
}

func putSpans(b []byte, vals []span) []byte {
	for _, v := range vals {
		if v.mark == markInt {
			b = binary.AppendVarint(b, v.n)
		} else {
			b = putStr(b, v.text)
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
