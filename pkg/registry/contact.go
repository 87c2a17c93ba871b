package registry

import (
	"fmt"
	"net/mail"
	"strings"
)

// CheckContact reports whether contact is one email address shaped
// local@domain.tld, without a display name or angle brackets: the address
// finance and notifications write to. Errors wrap ErrInvalid.
func CheckContact(contact string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: contact %q is not an email address (%s)", ErrInvalid, truncate(contact, 64), why)
	}
	a, err := mail.ParseAddress(contact)
	if err != nil || a.Name != "" || a.Address != contact {
		return bad("write it as ops@example.com")
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || strings.HasPrefix(domain, "[") {
		return bad("write it as ops@example.com")
	}
	if i := strings.LastIndexByte(domain, '.'); i <= 0 || i == len(domain)-1 {
		return bad("its domain needs a dot, as in example.com")
	}
	return nil
}
