package deferred

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateJWK is the key file: an Ed25519 private JWK.
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
	Kid string `json:"kid,omitempty"`
}

// WriteKeyFile writes priv as a private JWK readable by its owner only
// (0600). It refuses to replace an existing file unless force is set; a
// forced write goes through a temporary file, so the old key is never half
// overwritten.
func WriteKeyFile(path string, priv ed25519.PrivateKey, force bool) (Key, error) {
	k, err := NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return Key{}, err
	}
	raw, err := json.MarshalIndent(privateJWK{Kty: "OKP", Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		D:   base64.RawURLEncoding.EncodeToString(priv.Seed()),
		Kid: k.ID}, "", "  ")
	if err != nil {
		return Key{}, err
	}
	raw = append(raw, '\n')
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return Key{}, fmt.Errorf("%s exists: refusing to overwrite a key (use --force)", path)
		}
		if err != nil {
			return Key{}, err
		}
		if _, err := f.Write(raw); err != nil {
			f.Close()
			return Key{}, err
		}
		return k, f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".paycrawl-key-*")
	if err != nil {
		return Key{}, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return Key{}, err
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return Key{}, err
	}
	if err := tmp.Close(); err != nil {
		return Key{}, err
	}
	return k, os.Rename(tmp.Name(), path)
}

// ReadKeyFile reads an Ed25519 private JWK (as WriteKeyFile writes it) and checks that its public half matches.
func ReadKeyFile(path string) (ed25519.PrivateKey, Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, Key{}, err
	}
	var j privateJWK
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, Key{}, fmt.Errorf("%s: not a JWK: %v", path, err)
	}
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, Key{}, fmt.Errorf("%s: kty %q crv %q is not an Ed25519 key", path, j.Kty, j.Crv)
	}
	seed, err := base64.RawURLEncoding.DecodeString(j.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, Key{}, fmt.Errorf("%s: \"d\" is not a 32-byte base64url Ed25519 private key", path)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k, err := NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, Key{}, err
	}
	if j.X != "" && j.X != base64.RawURLEncoding.EncodeToString(k.Public) {
		return nil, Key{}, fmt.Errorf("%s: \"x\" does not match the private key", path)
	}
	return priv, k, nil
}

// LooseKeyFileMode reports whether a key file can be read by others.
func LooseKeyFileMode(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().Perm()&0o077 != 0
}
