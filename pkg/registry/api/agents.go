package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func (s *Server) registerAgent(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var req keydir.AgentRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	a, err := s.store.RegisterAgent(r.Context(), op.ID, req.URL)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agent registered", "operator", op.ID, "agent", a.URL)
	httpx.WriteJSON(w, http.StatusCreated, keydir.AgentJSON{URL: a.URL})
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	agents, err := s.store.Agents(r.Context(), op.ID)
	if err != nil {
		return err
	}
	resp := keydir.AgentsResponse{Agents: make([]keydir.AgentJSON, 0, len(agents))}
	for _, a := range agents {
		resp.Agents = append(resp.Agents, keydir.AgentJSON{URL: a.URL, Hosted: a.Hosted})
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// DefaultDirectoryProofLifetime is how long the proof on a hosted
// directory response is valid by default.
const DefaultDirectoryProofLifetime = time.Hour

// directorySigner signs hosted directory responses with the service's
// directory keys.
type directorySigner struct {
	// keys[0] signs; every key is published in the service's own
	// directory, so that a successor can be announced before it signs.
	keys     []ed25519.PrivateKey
	ids      []deferred.Key
	lifetime time.Duration
}

// newDirectorySigner checks the directory keys and the proof lifetime of
// cfg: the lifetime must cover the directory's max-age, so that no cache
// serves a response whose proof has expired. With no keys it generates
// one, valid until the process ends.
func newDirectorySigner(cfg Config, maxAge time.Duration, log *slog.Logger) (*directorySigner, error) {
	d := &directorySigner{keys: cfg.DirectoryKeys, lifetime: cfg.DirectoryProofLifetime}
	if d.lifetime == 0 {
		d.lifetime = DefaultDirectoryProofLifetime
	}
	if d.lifetime < maxAge || d.lifetime > 7*24*time.Hour {
		return nil, fmt.Errorf("api: directory proof lifetime %s is not in [the directory max-age %s, 7 days]: a cached directory must not outlive its proof", d.lifetime, maxAge)
	}
	if len(d.keys) == 0 {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		d.keys = []ed25519.PrivateKey{priv}
		log.Warn("no directory signing key configured: hosted directories are signed with a key generated for this process; configure one so that every replica and restart signs with the same key")
	}
	seen := map[string]bool{}
	for i, priv := range d.keys {
		if len(priv) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("api: directory key %d is not an Ed25519 private key", i)
		}
		k, err := deferred.NewKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, err
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("api: directory key %s is listed twice", k.ID)
		}
		seen[k.ID] = true
		d.ids = append(d.ids, k)
	}
	return d, nil
}

// KeyDirectoryLabel labels the key directory's own signature on an
// operator's hosted directory, apart from the operators' binding<i>
// possession proofs.
const KeyDirectoryLabel = "keydirectory"

// servedProof is an operator key's stored directory proof as served.
type servedProof struct {
	label, params, signature string
	expires                  time.Time
}

// writeDirectory sends a signed JWK Set: the directory media type, the
// operators' own possession proofs (proofs) and signatures by signers made
// the way Cloudflare's directoryResponseHeaders makes them ("@authority";req,
// created, keyid, alg, expires, tag) with content-digest covered too, as
// draft -02 requires, labelled after label (see deferred.ProofLabel), and
// a max-age no longer than the shortest remaining lifetime of any proof
// served. authority is the request's, as the verifier sent it.
func (s *Server) writeDirectory(w http.ResponseWriter, r *http.Request, set keydir.JWKS, scheme string, signers []ed25519.PrivateKey, label string, proofs []servedProof) error {
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	now := time.Now()
	signed := http.Header{}
	if err := deferred.SignDirectoryProofs(signed, body, signers, deferred.DirectoryProof{
		Authority: deferred.NormalizeAuthority(r.Host, scheme), Created: now, Expires: now.Add(s.dirSigner.lifetime), Label: label,
	}); err != nil {
		return err
	}
	life := min(s.maxAge, s.dirSigner.lifetime)
	var inputs, sigs []string
	for _, p := range proofs {
		inputs = append(inputs, p.label+"="+p.params)
		sigs = append(sigs, p.label+"=:"+p.signature+":")
		life = min(life, p.expires.Sub(now))
	}
	inputs = append(inputs, signed.Get("Signature-Input"))
	sigs = append(sigs, signed.Get("Signature"))
	h := w.Header()
	h.Set("Content-Digest", signed.Get("Content-Digest"))
	h.Set("Signature-Input", strings.Join(inputs, ", "))
	h.Set("Signature", strings.Join(sigs, ", "))
	h.Set("Content-Type", deferred.MediaTypeDirectory)
	h.Set("Cache-Control", "max-age="+strconv.Itoa(max(0, int(life/time.Second))))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// directory serves an operator's hosted key directory at the older
// /agents/{id}.
func (s *Server) directory(w http.ResponseWriter, r *http.Request) error {
	return s.operatorDirectory(w, r, r.PathValue("id"), schemeOf(s.store.AgentBase()))
}

// wellKnownDirectory serves /.well-known/http-message-signatures-directory:
// on an operator's own host (registry.Options.HostedAgentsBase) that
// operator's directory; on any other host the service's own directory, the
// public halves of its directory keys, each proving possession, for
// verifiers that check the signatures of hosted directories.
func (s *Server) wellKnownDirectory(w http.ResponseWriter, r *http.Request) error {
	if id, ok := s.store.HostedOperatorForHost(r.Host); ok {
		return s.operatorDirectory(w, r, id, schemeOf(s.store.HostedOrigin(id)))
	}
	set := keydir.JWKS{Keys: []json.RawMessage{}}
	for _, k := range s.dirSigner.ids {
		set.Keys = append(set.Keys, k.JWK())
	}
	return s.writeDirectory(w, r, set, schemeOf(s.store.AgentBase()), s.dirSigner.keys, "", nil)
}

// minProofLifetime is the least remaining lifetime of an operator's proof
// that the directory still serves: one that expires sooner would be stale
// in the verifier's hands.
const minProofLifetime = 2 * time.Second

// operatorDirectory serves an operator's hosted key directory: the
// keydir.JWKS of its usable keys (active, and rotated inside their
// overlap). The i-th key that has a directory proof of its own for the
// request's authority (signed by the operator's key at registration, see
// registry.DirectoryProof), current and not expiring within
// minProofLifetime, gets it served as binding<i>: that is a possession
// proof, and verifiers that use proven keys only use exactly those keys.
// Keys without one are served unproven. The service's directory key adds
// its own signature labelled KeyDirectoryLabel, covering content-digest:
// it vouches for the body to verifiers that trust this service, and,
// signed by a key the directory does not list, proves nothing about the
// operator's keys (deferred's DirectoryClient ignores it for possession).
// A suspended operator's directory is served empty rather than as an
// error, so that verifiers, which keep their old copy when a refresh
// fails, drop its keys.
func (s *Server) operatorDirectory(w http.ResponseWriter, r *http.Request, id, scheme string) error {
	op, err := s.store.Operator(r.Context(), id)
	if err != nil {
		return err
	}
	set := keydir.JWKS{Keys: []json.RawMessage{}}
	var proofs []servedProof
	if op.Status == registry.StatusActive {
		keys, err := s.store.UsableKeys(r.Context(), op.ID)
		if err != nil {
			return err
		}
		authority, now := deferred.NormalizeAuthority(r.Host, scheme), time.Now()
		for i, k := range keys {
			set.Keys = append(set.Keys, k.JWK)
			p := k.DirectoryProof
			if p == nil || p.Authority != authority || time.Unix(p.Created, 0).After(now) || time.Unix(p.Expires, 0).Sub(now) < minProofLifetime {
				continue
			}
			proofs = append(proofs, servedProof{label: deferred.ProofLabel("", i), params: p.Params(k.ID),
				signature: p.SignatureValue(), expires: time.Unix(p.Expires, 0)})
		}
	}
	return s.writeDirectory(w, r, set, scheme, s.dirSigner.keys[:1], KeyDirectoryLabel, proofs)
}

// hostedHosts answers requests to operators' own hosts: they serve their
// directory at the well-known path and nothing else.
func (s *Server) hostedHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.store.HostedOperatorForHost(r.Host); ok && r.URL.Path != deferred.WellKnownDirectoryPath {
			httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "not_found", "this host serves %s only", deferred.WellKnownDirectoryPath))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// schemeOf is the scheme of an absolute URL, "https" when it has none.
func schemeOf(u string) string {
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		return scheme
	}
	return "https"
}
