package deferred

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"

	"github.com/dunglas/httpsfv"
)

// The live verifier builds the RFC 9421 §2.5 signature base itself, from
// the evidence and the components it has already parsed, instead of handing
// the request to yaronf/httpsign, which parses Signature-Input and Signature
// again and copies every header into a message of its own. It does so only
// for the components whose value it can derive exactly as httpsign does:
//
//   - @method, @authority, @scheme, @path, @query, @target-uri and
//     @request-target, without parameters, for a request target made of
//     plain path and query characters (RFC 3986 pchar, valid %HH escapes);
//   - a header without parameters, and a dictionary member (key="m") of one.
//
// Anything else (sf, bs and name parameters, @query-param, an unusual
// request target or authority) is verified through httpsign as before.
// httpsign stays the oracle: Evidence.Verify is httpsign, and the
// differential test and FuzzSignatureBase prove that wherever the fast base
// is built, it is byte for byte the base httpsign signs and verifies, and
// that both give the same verdict.

// basePool recycles signature-base buffers: a base is a few hundred bytes,
// needed only for the Ed25519 check.
var basePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// verifyFast checks the signature of e with pub over the signature base it
// builds itself. handled is false when e covers a component the fast base
// leaves to httpsign; ok is the verdict when handled.
func verifyFast(e *Evidence, s *parsedSignature, pub ed25519.PublicKey, check func(pub ed25519.PublicKey, msg, sig []byte) bool) (ok, handled bool) {
	if len(pub) != ed25519.PublicKeySize {
		return false, false
	}
	bp := basePool.Get().(*[]byte)
	defer basePool.Put(bp)
	base, handled := appendSignatureBase((*bp)[:0], e, s)
	*bp = base[:0]
	if !handled {
		return false, false
	}
	return check(pub, base, s.raw), true
}

// appendSignatureBase appends the signature base of e for the components of
// s to dst. It returns false, and dst unusable, when a component is one
// that only httpsign derives.
func appendSignatureBase(dst []byte, e *Evidence, s *parsedSignature) ([]byte, bool) {
	if !s.plain || e.Method == "" || !plainAuthority(e.Authority) {
		return dst, false
	}
	for name := range e.Headers {
		if strings.HasPrefix(name, "@") {
			// httpsign refuses such a message whatever it covers.
			return dst, false
		}
	}
	path, query, hasQuery, ok := splitRequestURI(e.RequestURI)
	if !ok {
		return dst, false
	}
	scheme := e.Scheme
	if scheme == "" {
		scheme = "http"
	}
	for i, name := range s.names {
		dst = append(dst, s.components[i]...)
		dst = append(dst, ": "...)
		if strings.HasPrefix(name, "@") {
			if s.keyed[i] {
				return dst, false
			}
			switch name {
			case "@method":
				dst = append(dst, e.Method...)
			case "@authority":
				dst = append(dst, e.Authority...)
			case "@scheme":
				dst = append(dst, scheme...)
			case "@path":
				dst = append(dst, path...)
			case "@query":
				dst = append(dst, '?')
				dst = append(dst, query...)
			case "@target-uri":
				dst = append(dst, scheme...)
				dst = append(dst, "://"...)
				dst = append(dst, e.Authority...)
				dst = append(dst, path...)
				if hasQuery {
					dst = append(dst, '?')
					dst = append(dst, query...)
				}
			case "@request-target":
				// httpsign serves the unescaped path here: the same bytes
				// when the path has no escapes, the only case handled.
				if strings.IndexByte(path, '%') >= 0 {
					return dst, false
				}
				dst = append(dst, path...)
				if query != "" {
					dst = append(dst, '?')
					dst = append(dst, query...)
				}
			default:
				return dst, false
			}
		} else {
			if !lowerToken(name) {
				return dst, false
			}
			v, found := e.Headers[name]
			if !found {
				return dst, false
			}
			if s.keyed[i] {
				m, ok := dictionaryMember(v, s.keys[i])
				if !ok {
					return dst, false
				}
				dst = append(dst, m...)
			} else {
				dst = append(dst, strings.TrimSpace(v)...)
			}
		}
		dst = append(dst, '\n')
	}
	dst = append(dst, `"@signature-params": `...)
	dst = append(dst, s.input...)
	return dst, true
}

// dictionaryMember is member key of the dictionary field value v,
// serialized, as RFC 9421 §2.1.2 covers it.
func dictionaryMember(v, key string) (string, bool) {
	d, err := httpsfv.UnmarshalDictionary([]string{v})
	if err != nil {
		return "", false
	}
	m, found := d.Get(key)
	if !found {
		return "", false
	}
	out, err := httpsfv.Marshal(m)
	return out, err == nil
}

// splitRequestURI splits a request URI into its path and query when both
// are made of characters that every URL parser leaves as they are: RFC 3986
// pchar and "/" in the path (and "?" in the query), %HH escapes with hex
// digits, and no ";" in the query (which url.ParseQuery refuses).
func splitRequestURI(uri string) (path, query string, hasQuery, ok bool) {
	if uri == "" || uri[0] != '/' {
		return "", "", false, false
	}
	path, query, hasQuery = strings.Cut(uri, "?")
	if !plainURIPart(path, false) || !plainURIPart(query, true) {
		return "", "", false, false
	}
	return path, query, hasQuery, true
}

func plainURIPart(s string, query bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,=:@/", c) >= 0:
		case c == ';' && !query:
		case c == '?' && query:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// plainAuthority reports whether a normalized authority is made of
// characters a URL serializer writes unchanged (host names, IPv4, IPv6 in
// brackets, a port).
func plainAuthority(a string) bool { return lowerOr(a, "-._~:[]") }

// lowerToken reports whether a component name is a lower-case header name
// (RFC 9110 token characters): the names httpsign finds among the headers.
func lowerToken(name string) bool { return lowerOr(name, "!#$%&'*+-.^_`|~") }

// lowerOr reports whether s is not empty and made of lower-case letters,
// digits and bytes of punct.
func lowerOr(s, punct string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(punct, c) >= 0) {
			return false
		}
	}
	return true
}

// marshalSF is httpsfv.Marshal of an item or inner list, written directly
// for the types appendSFItem knows.
func marshalSF(v httpsfv.Member) (string, error) {
	bp := basePool.Get().(*[]byte)
	defer basePool.Put(bp)
	var b []byte
	var ok bool
	switch v := v.(type) {
	case httpsfv.Item:
		b, ok = appendSFItem((*bp)[:0], v.Value, v.Params)
	case httpsfv.InnerList:
		b, ok = appendSFInnerList((*bp)[:0], v)
	}
	*bp = b[:0]
	if ok {
		return string(b), nil
	}
	return httpsfv.Marshal(v)
}

// appendSFItem appends the RFC 9651 serialization of a bare item with its
// parameters, as httpsfv.Marshal writes it, for the types a signature's
// fields use (strings, integers, booleans, byte sequences); false for any
// other, which the caller marshals with httpsfv.
func appendSFItem(b []byte, v any, params *httpsfv.Params) ([]byte, bool) {
	b, ok := appendSFBare(b, v)
	if !ok {
		return b, false
	}
	return appendSFParams(b, params)
}

// appendSFInnerList is appendSFItem for an inner list of items.
func appendSFInnerList(b []byte, l httpsfv.InnerList) ([]byte, bool) {
	b = append(b, '(')
	for i, it := range l.Items {
		if i > 0 {
			b = append(b, ' ')
		}
		var ok bool
		if b, ok = appendSFItem(b, it.Value, it.Params); !ok {
			return b, false
		}
	}
	b = append(b, ')')
	return appendSFParams(b, l.Params)
}

func appendSFParams(b []byte, params *httpsfv.Params) ([]byte, bool) {
	if params == nil {
		return b, true
	}
	for _, name := range params.Names() {
		v, _ := params.Get(name)
		b = append(b, ';')
		b = append(b, name...)
		if v == true {
			continue
		}
		b = append(b, '=')
		var ok bool
		if b, ok = appendSFBare(b, v); !ok {
			return b, false
		}
	}
	return b, true
}

func appendSFBare(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		b = append(b, '"')
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c < 0x20 || c > 0x7e {
				return b, false
			}
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		return append(b, '"'), true
	case int64:
		if v < -999_999_999_999_999 || v > 999_999_999_999_999 {
			return b, false
		}
		return strconv.AppendInt(b, v, 10), true
	case bool:
		if v {
			return append(b, "?1"...), true
		}
		return append(b, "?0"...), true
	case []byte:
		b = append(b, ':')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, ':'), true
	}
	return b, false
}
