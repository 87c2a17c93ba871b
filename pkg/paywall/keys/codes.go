// Package keys is the gateway's key resolver: it answers which key a
// request's Signature-Agent and keyid name and which billing account stands
// behind it, reading pkg/registry through an in-process cache that the
// registry's invalidation messages keep fresh, fetching the directories of
// registered external agents, and translating the registry's refusals into
// protocol codes by one table (codes.go).
package keys

import (
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// codes is the one table from the registry's refusals to the protocol: the
// first entry whose sentinel a refusal wraps gives the code the crawler is
// told. Anything else that is not already a *deferred.Error (Redis down, a
// stored key that does not parse) is directory_unavailable.
var codes = []struct {
	err  error
	code deferred.Code
}{
	{registry.ErrNotFound, deferred.CodeAgentUnknown},
	{registry.ErrKeyUnusable, deferred.CodeUnknownKey},
	{registry.ErrSuspended, deferred.CodeAccountSuspended},
	{registry.ErrNoBilling, deferred.CodeBillingMissing},
}

// refusal is a lookup the registry's state refuses: msg is the whole
// message the crawler reads, kind the registry sentinel it wraps.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// protocol turns err into what the verifier answers: a refusal into its
// code by the table, a *deferred.Error (from the directory client) as it
// is, and any other failure into directory_unavailable, logged here and
// told to the crawler as that only.
func (r *Resolver) protocol(err error) error {
	var de *deferred.Error
	if err == nil || errors.As(err, &de) {
		return err
	}
	var rf *refusal
	if errors.As(err, &rf) {
		for _, c := range codes {
			if errors.Is(rf, c.err) {
				return &deferred.Error{Code: c.code, Message: rf.msg, Err: err}
			}
		}
	}
	r.log.Warn("keys: resolving a crawler failed", "err", err)
	return &deferred.Error{Code: deferred.CodeDirectoryUnavailable, Message: deferred.MessageDirectoryUnavailable, Err: err}
}
