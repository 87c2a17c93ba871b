package deferred

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// TagAgentBrowserAuth is the tag of a request signed by an agent running in
// a browser (Cloudflare's signed agents; the x402 batch-settlement binding
// for cloudflare:402 lists it beside web-bot-auth).
const TagAgentBrowserAuth = "agent-browser-auth"

// DefaultTags are the tags a request signature may carry when
// Policy.Tags is nil.
var DefaultTags = []string{TagWebBotAuth, TagAgentBrowserAuth}

// Profile names the components a signature that carries a payment must
// cover, beyond the payment header itself.
type Profile string

// The coverage profiles.
const (
	// ProfileReference requires @authority (or @target-uri) and
	// signature-agent: what Cloudflare's web-bot-auth library signs by
	// default and what the x402 batch-settlement binding for cloudflare:402
	// requires (with payment-signature). Such a signature names no page: it
	// is bound to one by the one-use replay guard alone, so a Verifier with
	// this profile must run behind one (Verifier.Replay or the ledger's
	// atomic append). It is the zero value.
	ProfileReference Profile = "reference"
	// ProfileStrict adds @path (or @target-uri): a signature is bound to its
	// page by what it covers, as well as by the replay guard.
	ProfileStrict Profile = "strict"
)

// Coverage groups of the profiles: each group must have one member covered.
var (
	// ReferenceRequired is the coverage of ProfileReference; it is also all
	// that a signature without a payment must cover (the draft's MUSTs).
	ReferenceRequired = [][]string{{"@authority", "@target-uri"}, {"signature-agent"}}
	// StrictRequired is the coverage of ProfileStrict.
	StrictRequired = [][]string{{"@authority", "@target-uri"}, {"@path", "@target-uri"}, {"signature-agent"}}
)

// ParseProfile reads a profile name; "" is ProfileReference.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", ProfileReference:
		return ProfileReference, nil
	case ProfileStrict:
		return ProfileStrict, nil
	}
	return "", fmt.Errorf("deferred: coverage profile %q: want %q or %q", s, ProfileReference, ProfileStrict)
}

// Required returns the coverage groups of p.
func (p Profile) Required() [][]string {
	if p == ProfileStrict {
		return StrictRequired
	}
	return ReferenceRequired
}

// Policy says what a request signature must satisfy. The zero value is the
// default policy: tags web-bot-auth or agent-browser-auth, validity at most
// 24 hours, created at most 30 s in the future, and the reference coverage
// profile for a paying signature.
type Policy struct {
	// Tags lists the accepted tag parameters; nil means DefaultTags.
	Tags []string
	// MaxValidity bounds expires − created; 0 means 24 hours, the most the
	// Web Bot Auth draft recommends.
	MaxValidity time.Duration
	// ClockSkew is how far created may lie in the future, and how long after
	// expires a signature is still honoured; 0 means 30 s. It is kept apart
	// from MaxValidity: a long-lived signature never buys a looser clock.
	ClockSkew time.Duration
	// Profile is the coverage a signature that carries a payment must have
	// (with the payment header); "" means ProfileReference. The reference
	// profile also reads a bare-host Signature-Agent (`mycrawler.com`) as
	// https://<host>; the strict profile refuses it.
	Profile Profile
	// Required, when not nil, replaces the profile's groups of component
	// names; each group must have at least one member covered. Names are
	// bare ("@path", "signature-agent"), without quotes or parameters.
	Required [][]string
	// RequireNonce refuses signatures without a nonce.
	RequireNonce bool
}

// DefaultRequired is the coverage of the zero Policy.
var DefaultRequired = ReferenceRequired

func (p Policy) tags() []string {
	if p.Tags == nil {
		return DefaultTags
	}
	return p.Tags
}

func (p Policy) maxValidity() time.Duration {
	if p.MaxValidity <= 0 {
		return 24 * time.Hour
	}
	return p.MaxValidity
}

func (p Policy) skew() time.Duration {
	if p.ClockSkew <= 0 {
		return 30 * time.Second
	}
	return p.ClockSkew
}

// required returns the coverage groups for a signature that carries a
// payment (paid) or only proves who signed it. An unpaid signature decides
// nothing about money, so it needs only the Web Bot Auth minimum whatever
// the profile: a crawler is never refused a free page or an offer for the
// way it signs.
func (p Policy) required(paid bool) [][]string {
	if !paid {
		return ReferenceRequired
	}
	if p.Required != nil {
		return p.Required
	}
	return p.Profile.Required()
}

// AcceptSignature is the RFC 9421 §5.1 Accept-Signature field value that
// asks for a signature this policy accepts: label sig1, the profile's
// components (the first of each group) plus the payment header of intent
// when not nil, and the parameters web-bot-auth requires.
func (p Policy) AcceptSignature(intent *Intent) string {
	var items []httpsfv.Item
	for _, g := range p.required(intent != nil) {
		items = append(items, httpsfv.NewItem(g[0]))
	}
	if intent != nil {
		items = append(items, httpsfv.NewItem(intent.Header))
	}
	params := httpsfv.NewParams()
	for _, name := range []string{"created", "expires", "keyid"} {
		params.Add(name, true)
	}
	if p.RequireNonce {
		params.Add("nonce", true)
	}
	params.Add("tag", p.tags()[0])
	d := httpsfv.NewDictionary()
	d.Add("sig1", httpsfv.InnerList{Items: items, Params: params})
	s, err := httpsfv.Marshal(d)
	if err != nil {
		return ""
	}
	return s
}

// Verifier checks request signatures. Keys is required; Replay may be nil
// when the caller checks replays itself.
type Verifier struct {
	Keys   KeyResolver
	Replay ReplayGuard
	Policy Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verdict is the outcome of a successful verification.
type Verdict struct {
	// Agent is the Signature-Agent the signature covers.
	Agent SignatureAgent
	// Key is the signing key and its billing account.
	Key ResolvedKey
	// Created and Expires are the signature's validity window.
	Created, Expires time.Time
	// Nonce is the signature's nonce, or "".
	Nonce string
	// Covered lists the covered components as serialized in Signature-Input.
	Covered []string
	// Evidence lets the signature be verified again offline.
	Evidence Evidence
	// ReplayIDs are the ids under which the ledger must record this
	// signature until Expires.
	ReplayIDs []string
}

// HasSignature reports whether a request carries a signature at all.
func HasSignature(h http.Header) bool {
	return len(h.Values("Signature-Input")) > 0 || len(h.Values("Signature")) > 0
}

// Verify checks the signature of r. scheme is the scheme the client used
// ("https" or "http"; "" derives it from r.TLS). intent, when not nil, names
// the payment header the signature must cover, and the policy's coverage
// profile applies; a signature without one needs only the Web Bot Auth
// minimum (@authority or @target-uri, and signature-agent). Errors are
// *Error values with a precise code.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, scheme string, intent *Intent) (*Verdict, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	sig, err := selectSignature(r.Header, v.Policy.tags())
	if err != nil {
		return nil, err
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		// httpsign cannot build a signature base for such a request; say
		// what is wrong instead of "does not verify".
		return nil, Errorf(CodeSignatureMalformed, "the request's query %q is not well-formed (%v): it cannot be verified; percent-encode it", clip(r.URL.RawQuery), err)
	}
	if err := v.checkParams(sig, now()); err != nil {
		return nil, err
	}
	// The reference profile reads a bare host as the Cloudflare
	// batch-settlement binding's examples send it (https://<host>).
	agents, err := ParseSignatureAgentWith(r.Header, AgentParseOptions{AllowBareHost: v.Policy.Profile != ProfileStrict})
	if err != nil {
		return nil, err
	}
	if len(agents.Agents) == 0 {
		return nil, Errorf(CodeAgentMissing, "no Signature-Agent header: name the directory that publishes key %s", sig.keyID)
	}
	agent, err := v.checkCoverage(sig, agents, intent)
	if err != nil {
		return nil, err
	}
	key, err := ResolveAgentKey(ctx, v.Keys, agent, sig.keyID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		// The resolver's error may name hosts or addresses it tried: keep it
		// in Err for the logs, never in the message a client sees.
		return nil, &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable, Err: fmt.Errorf("resolving key %s: %w", sig.keyID, err)}
	}
	if key.ID != sig.keyID {
		return nil, Errorf(CodeUnknownKey, "key %s is not published by %s", sig.keyID, agent.URL)
	}
	ev, err := evidenceOf(r, scheme, sig)
	if err != nil {
		return nil, err
	}
	if ok, handled := verifyFast(&ev, sig, key.Public, ed25519.Verify); handled {
		if !ok {
			return nil, Errorf(CodeSignatureInvalid, "signature %s does not verify with key %s: signature verification failed", sig.label, sig.keyID)
		}
	} else if err := ev.Verify(key.Public); err != nil {
		return nil, Errorf(CodeSignatureInvalid, "signature %s does not verify with key %s: %v", sig.label, sig.keyID, err)
	}
	verdict := &Verdict{
		Agent: agent, Key: key, Created: sig.created, Expires: sig.expires, Nonce: sig.nonce,
		Covered: sig.components, Evidence: ev, ReplayIDs: ReplayIDs(sig.keyID, sig.nonce, sig.raw),
	}
	if v.Replay != nil {
		seen, err := v.Replay.Seen(ctx, key.Account, verdict.ReplayIDs)
		if err != nil {
			return nil, &Error{Code: CodeLedgerUnavailable, Message: "replay check: " + err.Error(), Err: err}
		}
		if seen {
			return nil, Errorf(CodeReplay, "signature %s was already used; sign each request anew", sig.label)
		}
	}
	return verdict, nil
}

// parsedSignature is one labelled signature of a request.
type parsedSignature struct {
	label      string
	input      string   // the Signature-Input member, serialized
	value      string   // the Signature member, serialized
	raw        []byte   // the signature bytes
	components []string // serialized component identifiers
	names      []string // component names without parameters
	keys       []string // the key= parameter of each component, or ""
	keyed      []bool   // whether each component has a key= parameter
	// plain: no component has a parameter other than a string key=, so
	// the fast signature base (sigbase.go) may be built.
	plain   bool
	params  sigParams
	keyID   string
	nonce   string
	created time.Time
	expires time.Time

	// Backing arrays of the slices above for the fast path (sfselect.go):
	// a signature of up to inlineComponents components and inlineParams
	// parameters takes no allocation but the struct's own.
	compBuf, nameBuf, keyBuf [inlineComponents]string
	keyedBuf                 [inlineComponents]bool
	paramBuf                 [inlineParams]sigParam
}

const inlineComponents, inlineParams = 6, 8

// selectSignature picks the first signature whose tag is one of tags.
func selectSignature(h http.Header, tags []string) (*parsedSignature, error) {
	inputs, sigs := h.Values("Signature-Input"), h.Values("Signature")
	if len(inputs) == 0 || len(sigs) == 0 {
		return nil, Errorf(CodeSignatureRequired, "the request needs both Signature-Input and Signature headers")
	}
	if joinedLen(inputs) > maxFieldLen || joinedLen(sigs) > maxFieldLen {
		return nil, Errorf(CodeHeaderTooLarge, "Signature-Input or Signature over %d bytes", maxFieldLen)
	}
	if len(inputs) == 1 && len(sigs) == 1 {
		if s, ok := fastSelect(inputs[0], sigs[0], tags); ok {
			return s, nil
		}
	}
	return selectSignatureSF(inputs, sigs, tags)
}

// selectSignatureSF is selectSignature through httpsfv: what the fast path
// declines, and its oracle.
func selectSignatureSF(inputs, sigs []string, tags []string) (*parsedSignature, error) {
	inDict, err := httpsfv.UnmarshalDictionary(inputs)
	if err != nil {
		return nil, Errorf(CodeSignatureMalformed, "Signature-Input is not a structured-field dictionary: %v", err)
	}
	sigDict, err := httpsfv.UnmarshalDictionary(sigs)
	if err != nil {
		return nil, Errorf(CodeSignatureMalformed, "Signature is not a structured-field dictionary: %v", err)
	}
	var found []string
	for _, label := range inDict.Names() {
		m, _ := inDict.Get(label)
		list, ok := m.(httpsfv.InnerList)
		if !ok {
			return nil, Errorf(CodeSignatureMalformed, "Signature-Input %s is not an inner list of components", label)
		}
		t, _ := list.Params.Get("tag")
		ts, _ := t.(string)
		if !slices.Contains(tags, ts) {
			found = append(found, fmt.Sprintf("%q", ts))
			continue
		}
		return parseSignature(label, list, sigDict)
	}
	want := make([]string, len(tags))
	for i, t := range tags {
		want[i] = fmt.Sprintf("tag=%q", t)
	}
	return nil, Errorf(CodeWrongTag, "no signature has %s (found tags %s)", strings.Join(want, " or "), strings.Join(found, ", "))
}

func parseSignature(label string, list httpsfv.InnerList, sigDict *httpsfv.Dictionary) (*parsedSignature, error) {
	sm, ok := sigDict.Get(label)
	if !ok {
		return nil, Errorf(CodeSignatureMalformed, "Signature has no member %s to match Signature-Input", label)
	}
	item, ok := sm.(httpsfv.Item)
	raw, isBytes := item.Value.([]byte)
	if !ok || !isBytes {
		return nil, Errorf(CodeSignatureMalformed, "Signature %s is not a byte sequence", label)
	}
	input, err := marshalSF(list)
	if err != nil {
		return nil, Errorf(CodeSignatureMalformed, "Signature-Input %s: %v", label, err)
	}
	value, err := marshalSF(item)
	if err != nil {
		return nil, Errorf(CodeSignatureMalformed, "Signature %s: %v", label, err)
	}
	s := &parsedSignature{label: label, input: input, value: value, raw: raw, params: paramsOf(list.Params), plain: true}
	n := len(list.Items)
	s.components, s.names, s.keys, s.keyed = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]bool, 0, n)
	for _, c := range list.Items {
		name, ok := c.Value.(string)
		if !ok {
			return nil, Errorf(CodeSignatureMalformed, "Signature-Input %s: component is not a string", label)
		}
		for _, p := range c.Params.Names() {
			switch p {
			case "key", "sf", "bs", "name":
			default:
				return nil, Errorf(CodeSignatureMalformed, "Signature-Input %s: component parameter %q is not supported on requests", label, p)
			}
		}
		ser, err := marshalSF(c)
		if err != nil {
			return nil, Errorf(CodeSignatureMalformed, "Signature-Input %s: %v", label, err)
		}
		key, keyed := c.Params.Get("key")
		ks, isStr := key.(string)
		if names := c.Params.Names(); len(names) > 1 || len(names) == 1 && (!keyed || !isStr) {
			s.plain = false
		}
		s.components = append(s.components, ser)
		s.names = append(s.names, name)
		s.keys = append(s.keys, ks)
		s.keyed = append(s.keyed, keyed)
	}
	return s, nil
}

// checkParams applies the parameter rules: keyid, created, expires, tag,
// alg, nonce and the validity window.
func (v *Verifier) checkParams(s *parsedSignature, now time.Time) error {
	str := func(name string) (string, bool, error) {
		p, ok := s.params.get(name)
		if !ok {
			return "", false, nil
		}
		if p.kind != paramString {
			return "", true, Errorf(CodeSignatureMalformed, "parameter %s must be a string", name)
		}
		return p.str, true, nil
	}
	num := func(name string) (int64, error) {
		p, ok := s.params.get(name)
		if !ok {
			return 0, Errorf(CodeParamMissing, "signature %s has no %s parameter; web-bot-auth requires created, expires and keyid", s.label, name)
		}
		if p.kind != paramInt {
			return 0, Errorf(CodeSignatureMalformed, "parameter %s must be an integer", name)
		}
		return p.num, nil
	}
	keyID, ok, err := str("keyid")
	if err != nil {
		return err
	}
	if !ok || keyID == "" {
		return Errorf(CodeParamMissing, "signature %s has no keyid parameter; web-bot-auth requires created, expires and keyid", s.label)
	}
	s.keyID = keyID
	if alg, ok, err := str("alg"); err != nil {
		return err
	} else if ok && alg != "ed25519" {
		return Errorf(CodeUnsupportedAlg, "alg %q: only ed25519 is accepted", alg)
	}
	nonce, ok, err := str("nonce")
	if err != nil {
		return err
	}
	if !ok && v.Policy.RequireNonce {
		return Errorf(CodeParamMissing, "signature %s has no nonce parameter, which this server requires", s.label)
	}
	if len(nonce) > 256 {
		return Errorf(CodeSignatureMalformed, "nonce over 256 bytes")
	}
	s.nonce = nonce
	created, err := num("created")
	if err != nil {
		return err
	}
	expires, err := num("expires")
	if err != nil {
		return err
	}
	s.created, s.expires = time.Unix(created, 0), time.Unix(expires, 0)
	skew := v.Policy.skew()
	switch {
	case expires <= created:
		return Errorf(CodeSignatureMalformed, "expires (%d) is not after created (%d)", expires, created)
	case s.created.After(now.Add(skew)):
		return Errorf(CodeSignatureNotYetValid, "created %s is in the future (now %s, allowed skew %s)",
			s.created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	case now.After(s.expires.Add(skew)):
		return Errorf(CodeSignatureExpired, "signature expired at %s (now %s)",
			s.expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case s.expires.Sub(s.created) > v.Policy.maxValidity():
		return Errorf(CodeValidityTooLong, "validity %s exceeds this server's maximum of %s",
			s.expires.Sub(s.created), v.Policy.maxValidity())
	}
	return nil
}

// checkCoverage applies the component policy and returns the agent whose
// Signature-Agent entry the signature covers.
func (v *Verifier) checkCoverage(s *parsedSignature, agents AgentHeader, intent *Intent) (SignatureAgent, error) {
	covered := func(name string) bool {
		for _, n := range s.names {
			if n == name {
				return true
			}
		}
		return false
	}
	required := v.Policy.required(intent != nil)
	for _, group := range required {
		ok := false
		for _, name := range group {
			if covered(name) {
				ok = true
				break
			}
		}
		if !ok {
			alt := ""
			if len(group) > 1 {
				alt = " (or " + strings.Join(group[1:], " or ") + ")"
			}
			return SignatureAgent{}, Errorf(CodeComponentNotCovered,
				"the signature does not cover %s%s; this server requires %s", group[0], alt, describeRequired(required, intent))
		}
	}
	if intent != nil && !covered(intent.Header) {
		return SignatureAgent{}, Errorf(CodeComponentNotCovered,
			"the signature does not cover the %s header that carries the payment; a price header must be signed", intent.Header)
	}
	// The agent is the Signature-Agent entry the signature covers.
	for i, n := range s.names {
		if n != "signature-agent" {
			continue
		}
		if agents.Legacy && s.keys[i] != "" {
			return SignatureAgent{}, Errorf(CodeAgentMalformed, "signature covers signature-agent;key=%q but Signature-Agent is a plain string", s.keys[i])
		}
		a, ok := agents.Lookup(s.keys[i])
		if !ok {
			if s.keys[i] == "" {
				return SignatureAgent{}, Errorf(CodeAgentMalformed, "Signature-Agent has several members; the signature must cover one with signature-agent;key=\"…\"")
			}
			return SignatureAgent{}, Errorf(CodeAgentMalformed, "Signature-Agent has no member %q", s.keys[i])
		}
		return a, nil
	}
	return SignatureAgent{}, Errorf(CodeComponentNotCovered, "the signature does not cover signature-agent, so the key's directory is unknown")
}

func describeRequired(groups [][]string, intent *Intent) string {
	parts := make([]string, 0, len(groups)+1)
	for _, g := range groups {
		parts = append(parts, strings.Join(g, "|"))
	}
	if intent != nil {
		parts = append(parts, intent.Header)
	}
	return strings.Join(parts, ", ") + " (see Accept-Signature)"
}

// evidenceOf collects the covered parts of r.
func evidenceOf(r *http.Request, scheme string, s *parsedSignature) (Evidence, error) {
	uri := r.URL.RequestURI()
	if r.URL.Opaque != "" || uri == "" {
		uri = "/"
	}
	ev := Evidence{
		Label: s.label, Method: r.Method, Scheme: scheme,
		Authority:      NormalizeAuthority(r.Host, scheme),
		RequestURI:     uri,
		SignatureInput: s.input, Signature: s.value,
	}
	for _, name := range s.names {
		if strings.HasPrefix(name, "@") {
			continue
		}
		if name == "signature" || name == "signature-input" {
			return Evidence{}, Errorf(CodeSignatureMalformed, "a signature cannot cover the %s header", name)
		}
		vals := headerValues(r.Header, name)
		if len(vals) == 0 {
			return Evidence{}, Errorf(CodeComponentNotCovered, "the signature covers %s but the request has no such header", name)
		}
		if ev.Headers == nil {
			ev.Headers = make(map[string]string, len(s.names))
		}
		if len(vals) == 1 {
			ev.Headers[name] = strings.TrimSpace(vals[0])
			continue
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSpace(v))
		}
		ev.Headers[name] = b.String()
	}
	return ev, nil
}
