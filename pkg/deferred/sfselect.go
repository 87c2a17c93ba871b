package deferred

import (
	"encoding/base64"
	"strings"

	"github.com/dunglas/httpsfv"
)

// The fast path of selectSignature: a parser of its own for the
// Signature-Input and Signature fields, instead of httpsfv's general one,
// which allocates for every member, parameter and string it reads.
//
// It reads the subset of RFC 9651 dictionaries that signers write: one
// field line each; members and parameters in their canonical serialization
// (strings without escapes, integers without leading zeros, booleans,
// tokens; byte sequences only as the Signature's members, in canonical
// base64; one space between inner-list items; no duplicate key). In that
// subset every member is its own serialization, so the signature's input,
// value and component identifiers are substrings of the fields. It answers
// only when it finds the signature httpsfv would give without error; on
// anything else it declines, and selectSignature parses the fields with
// httpsfv as before, which gives the same signature or the error it always
// gave. FuzzSelectSignature checks that wherever the fast path answers, its
// answer is httpsfv's.

// maxMembers bounds the members of a field the fast path reads.
const maxMembers = 8

// fastSelect is selectSignature for one line of each field; ok is false
// when it declines.
func fastSelect(input, sig string, tags []string) (s *parsedSignature, ok bool) {
	var sigs sigMembers
	if !scanSignatures(sig, &sigs) {
		return nil, false
	}
	sc := sfScanner{s: input}
	if sc.edgeSpace() {
		return nil, false
	}
	s = &parsedSignature{plain: true}
	var labels [maxMembers]string
	found := false
	for n := 0; ; n++ {
		if n == maxMembers {
			return nil, false
		}
		label, ok := sc.key()
		if !ok || contains(labels[:n], label) {
			return nil, false
		}
		labels[n] = label
		if found {
			// Members after the one selected: valid, not read further.
			if !sc.skipValue() {
				return nil, false
			}
		} else {
			if !sc.next('=') || !sc.peek('(') {
				// A member that is not an inner list: httpsfv's path
				// refuses it with the precise message.
				return nil, false
			}
			start := sc.i
			strs, ok := sc.components(s)
			if !ok {
				return nil, false
			}
			if s.params, ok = sc.params(s.paramBuf[:0]); !ok {
				return nil, false
			}
			ts := "" // what httpsfv's path compares: "" when not a string
			if t, _ := s.params.get("tag"); t.kind == paramString {
				ts = t.str
			}
			if contains(tags, ts) {
				if !strs {
					return nil, false
				}
				s.label, s.input = label, input[start:sc.i]
				found = true
			}
		}
		if sc.eof() {
			break
		}
		if !sc.separator() {
			return nil, false
		}
	}
	if !found {
		return nil, false
	}
	for _, m := range sigs.members[:sigs.n] {
		if m.label != s.label {
			continue
		}
		if !m.bare {
			return nil, false // not a bare byte sequence: httpsfv's path says so
		}
		raw, err := base64.StdEncoding.DecodeString(m.b64)
		if err != nil {
			return nil, false
		}
		s.value, s.raw = m.value, raw
		return s, true
	}
	return nil, false
}

// components reads the inner list of a Signature-Input member into s's
// component slices; strs reports whether every item is a string with only
// the parameters a request signature may give a component.
func (sc *sfScanner) components(s *parsedSignature) (strs, ok bool) {
	s.components, s.names, s.keys, s.keyed = s.compBuf[:0], s.nameBuf[:0], s.keyBuf[:0], s.keyedBuf[:0]
	s.plain = true
	sc.i++ // '('
	strs = true
	for first := true; ; first = false {
		if sc.next(')') {
			return strs, true
		}
		if !first && (!sc.next(' ') || sc.peek(' ') || sc.peek(')')) {
			return false, false
		}
		start := sc.i
		v, ok := sc.bare()
		if !ok {
			return false, false
		}
		var pbuf [4]sigParam
		ps, ok := sc.params(pbuf[:0])
		if !ok {
			return false, false
		}
		if v.kind != itemString {
			strs = false
			continue
		}
		key, keyed := sigParams(ps).get("key")
		for _, p := range ps {
			switch p.name {
			case "key", "sf", "bs", "name":
			default:
				strs = false
			}
		}
		if len(ps) > 1 || len(ps) == 1 && (!keyed || key.kind != paramString) {
			s.plain = false
		}
		s.components = append(s.components, sc.s[start:sc.i])
		s.names = append(s.names, v.str)
		s.keys = append(s.keys, key.str)
		s.keyed = append(s.keyed, keyed)
	}
}

// sigMember is a member of the Signature field: its label and, when it is
// a bare byte sequence (no parameters), its serialization and its base64.
type sigMember struct {
	label, value, b64 string
	bare              bool
}

type sigMembers struct {
	members [maxMembers]sigMember
	n       int
}

// scanSignatures reads the Signature field into ms.
func scanSignatures(field string, ms *sigMembers) bool {
	sc := sfScanner{s: field}
	if sc.edgeSpace() {
		return false
	}
	for {
		if ms.n == maxMembers {
			return false
		}
		label, ok := sc.key()
		if !ok {
			return false
		}
		for _, m := range ms.members[:ms.n] {
			if m.label == label {
				return false
			}
		}
		m := sigMember{label: label}
		if strings.HasPrefix(field[sc.i:], "=:") {
			sc.i++
			start := sc.i
			b64, ok := sc.bytes()
			if !ok {
				return false
			}
			m.value, m.b64, m.bare = field[start:sc.i], b64, !sc.peek(';')
			if _, ok := sc.params(nil); !ok {
				return false
			}
		} else if !sc.skipValue() {
			return false
		}
		ms.members[ms.n] = m
		ms.n++
		if sc.eof() {
			return true
		}
		if !sc.separator() {
			return false
		}
	}
}

// sfScanner reads a structured field value; every method returns false
// when the text is outside the subset the fast path reads.
type sfScanner struct {
	s string
	i int
}

func (sc *sfScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *sfScanner) peek(c byte) bool { return sc.i < len(sc.s) && sc.s[sc.i] == c }

func (sc *sfScanner) next(c byte) bool {
	if sc.peek(c) {
		sc.i++
		return true
	}
	return false
}

// edgeSpace reports an empty field or white space at its start or its end,
// which the fast path leaves to httpsfv.
func (sc *sfScanner) edgeSpace() bool {
	return len(sc.s) == 0 || isOWS(sc.s[0]) || isOWS(sc.s[len(sc.s)-1])
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// separator reads the comma between two members, with white space around.
func (sc *sfScanner) separator() bool {
	for sc.i < len(sc.s) && isOWS(sc.s[sc.i]) {
		sc.i++
	}
	if !sc.next(',') {
		return false
	}
	for sc.i < len(sc.s) && isOWS(sc.s[sc.i]) {
		sc.i++
	}
	return !sc.eof()
}

// key reads a dictionary or parameter key.
func (sc *sfScanner) key() (string, bool) {
	s, start := sc.s, sc.i
	if sc.eof() || !(isLower(s[start]) || s[start] == '*') {
		return "", false
	}
	sc.i++
	for sc.i < len(s) && (isLower(s[sc.i]) || isDigit(s[sc.i]) || strings.IndexByte("_-.*", s[sc.i]) >= 0) {
		sc.i++
	}
	return s[start:sc.i], true
}

// skipValue reads "=" and an item or an inner list with its parameters, or
// the parameters of a bare key.
func (sc *sfScanner) skipValue() bool {
	if sc.next('=') {
		if sc.next('(') {
			for first := true; ; first = false {
				if sc.next(')') {
					break
				}
				if !first && (!sc.next(' ') || sc.peek(' ') || sc.peek(')')) {
					return false
				}
				if _, ok := sc.bare(); !ok {
					return false
				}
				if _, ok := sc.params(nil); !ok {
					return false
				}
			}
		} else if sc.peek(':') {
			if _, ok := sc.bytes(); !ok {
				return false
			}
		} else if v, ok := sc.bare(); !ok || v.kind == itemBool && v.num == 1 {
			// "key=?1" serializes as "key": not canonical.
			return false
		}
	}
	_, ok := sc.params(nil)
	return ok
}

// Kinds of a bare item the fast path reads.
const (
	itemString = iota
	itemInt
	itemBool
	itemToken
)

type bareItem struct {
	kind byte
	str  string // itemString: the string
	num  int64  // itemInt: the integer; itemBool: 1 for true
}

// bare reads a bare item other than a byte sequence.
func (sc *sfScanner) bare() (bareItem, bool) {
	if sc.eof() {
		return bareItem{}, false
	}
	s, start := sc.s, sc.i
	switch c := s[start]; {
	case c == '"':
		for sc.i++; sc.i < len(s) && s[sc.i] != '"'; sc.i++ {
			if c := s[sc.i]; c == '\\' || c < 0x20 || c > 0x7e {
				return bareItem{}, false
			}
		}
		if sc.eof() {
			return bareItem{}, false
		}
		sc.i++
		return bareItem{kind: itemString, str: s[start+1 : sc.i-1]}, true
	case c == '-' || isDigit(c):
		neg := c == '-'
		if neg {
			sc.i++
		}
		digits := sc.i
		var n int64
		for sc.i < len(s) && isDigit(s[sc.i]) {
			n = n*10 + int64(s[sc.i]-'0')
			sc.i++
			if sc.i-digits > 15 {
				return bareItem{}, false
			}
		}
		d := sc.i - digits
		if d == 0 || s[digits] == '0' && (d > 1 || neg) || sc.peek('.') {
			return bareItem{}, false
		}
		if neg {
			n = -n
		}
		return bareItem{kind: itemInt, num: n}, true
	case c == '?':
		if start+1 < len(s) && (s[start+1] == '0' || s[start+1] == '1') {
			sc.i += 2
			return bareItem{kind: itemBool, num: int64(s[start+1] - '0')}, true
		}
	case isAlpha(c) || c == '*':
		for sc.i++; sc.i < len(s) && isExtendedTchar(s[sc.i]); sc.i++ {
		}
		return bareItem{kind: itemToken}, true
	}
	return bareItem{}, false
}

// bytes reads a byte sequence in canonical base64 and returns its base64.
func (sc *sfScanner) bytes() (string, bool) {
	s := sc.s
	end := strings.IndexByte(s[sc.i+1:], ':')
	if end < 0 {
		return "", false
	}
	b64 := s[sc.i+1 : sc.i+1+end]
	for i := 0; i < len(b64); i++ {
		if c := b64[i]; !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return "", false
		}
	}
	if !canonicalStdBase64(b64) {
		return "", false
	}
	sc.i += end + 2
	return b64, true
}

// canonicalStdBase64 reports whether s is padded standard base64 that
// encodes back to itself (without allocating, up to 256 characters).
func canonicalStdBase64(s string) bool {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		return false
	}
	if len(s) > 256 {
		raw, err := enc.DecodeString(s)
		return err == nil && enc.EncodeToString(raw) == s
	}
	var in, out [256]byte
	var raw [192]byte
	copy(in[:], s)
	n, err := enc.Decode(raw[:], in[:len(s)])
	if err != nil {
		return false
	}
	enc.Encode(out[:], raw[:n])
	return string(out[:enc.EncodedLen(n)]) == s
}

// params reads parameters, appending them to dst.
func (sc *sfScanner) params(dst []sigParam) ([]sigParam, bool) {
	var names [16]string
	n := 0
	for sc.next(';') {
		name, ok := sc.key()
		if !ok || n == len(names) || contains(names[:n], name) {
			return nil, false
		}
		names[n] = name
		n++
		p := sigParam{name: name}
		if sc.next('=') {
			v, ok := sc.bare()
			if !ok || v.kind == itemBool && v.num == 1 {
				return nil, false
			}
			switch v.kind {
			case itemString:
				p.kind, p.str = paramString, v.str
			case itemInt:
				p.kind, p.num = paramInt, v.num
			}
		}
		if dst != nil {
			dst = append(dst, p)
		}
	}
	return dst, true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isExtendedTchar reports a character of a token after its first.
func isExtendedTchar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}

// Kinds of a signature parameter's value (sigParam.kind).
const (
	paramOther  = iota // a boolean, a token, a byte sequence, a decimal...
	paramString        // sigParam.str
	paramInt           // sigParam.num
)

// sigParam is a parameter of a signature or of a component.
type sigParam struct {
	name string
	str  string
	num  int64
	kind byte
}

// sigParams are parameters in order.
type sigParams []sigParam

// get returns the parameter name.
func (ps sigParams) get(name string) (sigParam, bool) {
	for _, p := range ps {
		if p.name == name {
			return p, true
		}
	}
	return sigParam{}, false
}

// paramsOf converts httpsfv's parameters.
func paramsOf(p *httpsfv.Params) sigParams {
	if p == nil {
		return nil
	}
	names := p.Names()
	out := make(sigParams, 0, len(names))
	for _, name := range names {
		v, _ := p.Get(name)
		sp := sigParam{name: name}
		switch v := v.(type) {
		case string:
			sp.kind, sp.str = paramString, v
		case int64:
			sp.kind, sp.num = paramInt, v
		}
		out = append(out, sp)
	}
	return out
}
