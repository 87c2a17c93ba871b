package main

import (
	"crypto/ed25519"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

type keygenResult struct {
	KeyID     string `json:"keyid"`
	Path      string `json:"path"`
	PublicJWK string `json:"public_jwk"`
}

func cmdKeygen(e *env, args []string) error {
	fs := e.flags("keygen")
	out := fs.String("out", "key.jwk", "file to write the private JWK to (0600)")
	force := fs.Bool("force", false, "replace an existing file")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("keygen takes no arguments, got %q", pos)
	}
	priv, err := generateKey()
	if err != nil {
		return err
	}
	k, err := deferred.WriteKeyFile(*out, priv, *force)
	if err != nil {
		return err
	}
	return e.emit(keygenResult{KeyID: k.ID, Path: *out, PublicJWK: string(k.JWK())}, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "keyid\t%s\n", k.ID)
		fmt.Fprintf(w, "private key\t%s (mode 0600: keep it secret, never send it anywhere)\n", *out)
		fmt.Fprintf(w, "next\tcrawlctl register --key %s …\n", *out)
	})
}

// loadKey reads --key, warning about a file others can read.
func (e *env) loadKey(path string) (ed25519.PrivateKey, deferred.Key, error) {
	if path == "" {
		return nil, deferred.Key{}, usagef("--key is required: the private JWK written by crawlctl keygen")
	}
	if deferred.LooseKeyFileMode(path) {
		fmt.Fprintf(e.stderr, "crawlctl: warning: %s can be read by other users; chmod 600 it\n", path)
	}
	return deferred.ReadKeyFile(path)
}

func cmdKeys(e *env, args []string) error {
	fs := e.flags("keys")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("keys takes no arguments, got %q", pos)
	}
	if err := e.needToken(); err != nil {
		return err
	}
	keys, err := e.client().Keys(e.ctx)
	if err != nil {
		return err
	}
	return e.emit(keydir.KeysResponse{Keys: keys}, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "KEYID\tSTATUS\tCREATED\tVALID UNTIL\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.Status, k.Created, orDash(k.ValidUntil), orDash(k.Revoked))
		}
	})
}

func cmdRotate(e *env, args []string) error {
	fs := e.flags("rotate")
	keyPath := fs.String("key", "", "the new key's private JWK (crawlctl keygen)")
	overlap := fs.Duration("overlap", registry.DefaultOverlap, "how long the replaced keys stay valid (at most 168h)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("rotate takes no arguments, got %q", pos)
	}
	if err := e.needToken(); err != nil {
		return err
	}
	priv, _, err := e.loadKey(*keyPath)
	if err != nil {
		return err
	}
	c := e.client()
	me, err := c.Me(e.ctx)
	if err != nil {
		return err
	}
	proof, err := signKeyProof(priv, me, time.Now())
	if err != nil {
		return err
	}
	res, err := c.RotateKey(e.ctx, keydir.RotateRequest{Proof: proof, Overlap: overlap.String()})
	if err != nil {
		return err
	}
	return e.emit(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "new key\t%s (active)\n", res.Key.KeyID)
		for _, id := range res.Rotated {
			fmt.Fprintf(w, "rotated\t%s (valid until %s)\n", id, res.ValidUntil)
		}
		if len(res.Rotated) == 0 {
			fmt.Fprintln(w, "rotated\tnone (no key was active)")
		}
		fmt.Fprintf(w, "next\tsign with %s now; the old keys stop working at %s\n", *keyPath, res.ValidUntil)
	})
}

func cmdRevoke(e *env, args []string) error {
	fs := e.flags("revoke")
	yes := fs.Bool("yes", false, "revoke even your last active key (every paid fetch then fails until you register another)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: crawlctl revoke KEYID [--yes]")
	}
	if err := e.needToken(); err != nil {
		return err
	}
	c := e.client()
	if !*yes {
		keys, err := c.Keys(e.ctx)
		if err != nil {
			return err
		}
		if lastActive(keys, pos[0]) {
			fmt.Fprintf(e.stderr, "crawlctl: warning: %s is your last active key: once revoked, gateways refuse every request you sign until you register another (crawlctl keygen, then crawlctl rotate --key new.jwk)\n", pos[0])
			return usagef("revoke: not revoked; run again with --yes to revoke your last active key")
		}
	}
	k, err := c.RevokeKey(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return e.emit(k, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "revoked\t%s\n", k.KeyID)
		fmt.Fprintf(w, "effect\tgone from your directory now; refused by every gateway within %s at most\n", registry.MaxTTL)
	})
}

// lastActive reports whether keyID is active and no other key is.
func lastActive(keys []keydir.KeyJSON, keyID string) bool {
	target, others := false, 0
	for _, k := range keys {
		if k.Status != string(registry.KeyActive) {
			continue
		}
		if k.KeyID == keyID {
			target = true
		} else {
			others++
		}
	}
	return target && others == 0
}
