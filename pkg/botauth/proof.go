package botauth

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// TagDirectory is the tag of a key directory's possession proof.
const TagDirectory = "http-message-signatures-directory"

// WellKnownDirectoryPath is where an agent origin publishes its keys.
const WellKnownDirectoryPath = "/.well-known/http-message-signatures-directory"

// DirectoryProofParams is the Signature-Input member value (inner list and
// parameters, no label) of a directory proof by keyID in Cloudflare's
// order: ("@authority";req) or ("@authority";req "content-digest"), then
// created, keyid, alg="ed25519", expires and
// tag="http-message-signatures-directory".
func DirectoryProofParams(keyID string, created, expires time.Time, digest bool) string {
	components := `("@authority";req)`
	if digest {
		components = `("@authority";req "content-digest")`
	}
	return components + ";created=" + strconv.FormatInt(created.Unix(), 10) + `;keyid="` + keyID +
		`";alg="ed25519";expires=` + strconv.FormatInt(expires.Unix(), 10) + `;tag="` + TagDirectory + `"`
}

// DirectoryProofBase is the RFC 9421 signature base of a directory proof
// with the given Signature-Input member value (DirectoryProofParams) over a
// response to a request for authority (lower-cased here); contentDigest is
// the Content-Digest field value when params cover content-digest, else "".
func DirectoryProofBase(authority, params, contentDigest string) []byte {
	var base strings.Builder
	base.WriteString(`"@authority";req: ` + strings.ToLower(authority) + "\n")
	if contentDigest != "" {
		base.WriteString(`"content-digest": ` + contentDigest + "\n")
	}
	base.WriteString(`"@signature-params": ` + params)
	return []byte(base.String())
}

// NormalizeAuthority returns host[:port] as RFC 9421 §2.2.3 covers it:
// lower-case, without the scheme's default port.
func NormalizeAuthority(hostport, scheme string) string {
	a := strings.ToLower(hostport)
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return a
}
