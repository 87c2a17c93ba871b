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

// The compact record (format 1). A commitment is stored as two parts:
//
//   - a profile: what one crawler repeats on every request it signs the same
//     way (agent, key id, label, dialect, method, scheme, currency, the
//     Signature-Input and Signature with their per-request values cut out,
//     the covered header names, the Signature-Agent value and the Payment
//     value but for its offer id). It is stored
//     once per crawler-day, in the hash <p>:{<a>}:d:<day>, under its id: the
//     first 16 bytes of the SHA-256 of its encoding;
//   - the record in the stream entry: the profile id and what varies per
//     request, in a binary form (varints, raw bytes of base64 and hex
//     strings, times as offsets).
//
// Decoding the two gives back every field exactly, byte for byte, so the
// signature base can be rebuilt and the signature re-verified offline. The
// encoding is canonical enough for that and no more: whatever a value is, it
// round-trips, because a value is only stored in a packed form when the
// packed form gives back the same string.
//
// Both parts begin with their format byte (1). A record written by an older
// ledger is JSON and begins with '{'; reads accept both.
//
// A commitment charged under an agreement ends its record with the
// agreement section (putAgreement): a commitment without one ends after its
// replay ids, as records did before agreements, and is not a byte longer.

// Format bytes.
const (
	recordV1  = 1
	profileV1 = 1
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

// compact splits c into its profile's encoding and id and its record's
// encoding.
func (c *Commitment) compact() (prof []byte, pid string, rec []byte, err error) {
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
	prof = p.encode()
	sum := sha256.Sum256(prof)
	pid = string(sum[:profileIDLen])

	b := make([]byte, 0, 160)
	b = append(b, recordV1)
	b = append(b, pid...)
	b = binary.AppendUvarint(b, uint64(c.Received.UTC().Sub(dayStart(c.Received))))
	b = putText(b, c.RequestID, "")
	b = putStr(b, c.Publisher)
	b = putStr(b, c.Site)
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
	b = binary.AppendUvarint(b, uint64(len(c.ReplayIDs)))
	nonceID, sigID := derivedIDs(c.KeyID, c.SignatureInput, c.Signature)
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
	b = c.putAgreement(b)
	if len(b) > maxRecord || len(prof) > maxRecord {
		return nil, "", nil, fmt.Errorf("%w: commitment record of %d bytes, limit %d", ErrInvalid, len(b)+len(prof), maxRecord)
	}
	return prof, pid, b, nil
}

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

// recordProfile returns the profile id of a compact record, or false.
func recordProfile(rec string) (string, bool) {
	if len(rec) < 1+profileIDLen || rec[0] != recordV1 {
		return "", false
	}
	return rec[1 : 1+profileIDLen], true
}

// decodeCompact rebuilds a commitment of day from its compact record and
// its profile. The commitment's ID, Day and Account are left to the caller.
func decodeCompact(rec string, day string, p *profile) (*Commitment, error) {
	start, err := parseDay(day)
	if err != nil {
		return nil, err
	}
	r := &reader{b: []byte(rec)}
	if r.byte1() != recordV1 {
		return nil, errCorrupt
	}
	r.bytes(profileIDLen)
	ns := r.uvarint()
	if ns >= uint64(24*time.Hour) {
		r.fail()
	}
	received := start.Add(time.Duration(ns))
	sec := received.Unix()
	c := &Commitment{Received: received, Agent: p.Agent, KeyID: p.KeyID, Label: p.Label,
		Dialect: p.Dialect, Method: p.Method, Scheme: p.Scheme, Currency: p.Currency}
	c.RequestID = r.text("")
	c.Publisher = r.str()
	c.Site = r.str()
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
	for i := 0; i < n && r.err == nil; i++ {
		if len(r.b) == 0 || (r.b[0] != textNonceID && r.b[0] != textSigID) {
			c.ReplayIDs = append(c.ReplayIDs, r.text(""))
			continue
		}
		if derived == nil {
			nonceID, sigID := derivedIDs(c.KeyID, c.SignatureInput, c.Signature)
			derived = &[2]string{nonceID, sigID}
		}
		id := derived[r.byte1()-textNonceID]
		if id == "" {
			r.fail()
		}
		c.ReplayIDs = append(c.ReplayIDs, id)
	}
	r.agreement(c)
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

// sectionAgreement begins the agreement section of a record: the agreement
// id, its version, the list price, the charge kind's code (chargeCodes) and
// the amount drawn.
const sectionAgreement = 1

// putAgreement appends c's agreement section, if c has an agreement.
func (c *Commitment) putAgreement(b []byte) []byte {
	if c.AgreementID == "" {
		return b
	}
	b = append(b, sectionAgreement)
	b = putStr(b, c.AgreementID)
	b = binary.AppendUvarint(b, uint64(c.AgreementVersion))
	b = binary.AppendUvarint(b, uint64(c.ListPrice))
	b = append(b, chargeCode(c.Charge))
	return binary.AppendUvarint(b, uint64(c.Drawn))
}

// agreement reads the agreement section into c, if the record has one.
func (r *reader) agreement(c *Commitment) {
	if r.err != nil || len(r.b) == 0 {
		return
	}
	if r.byte1() != sectionAgreement {
		r.fail()
		return
	}
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
