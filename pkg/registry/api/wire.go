package api

import (
	"time"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func keyJSON(k registry.KeyRecord) keydir.KeyJSON {
	return keydir.KeyJSON{KeyID: k.ID, Status: string(k.Status), Created: rfc3339(k.Created),
		ValidUntil: rfc3339(k.ValidUntil), Revoked: rfc3339(k.Revoked), JWK: k.JWK, DirectoryProof: k.DirectoryProof}
}

func (s *Server) operatorJSON(op *registry.Operator) keydir.OperatorJSON {
	o := keydir.OperatorJSON{ID: op.ID, Name: op.Name, Contact: op.Contact, Status: string(op.Status),
		Created: rfc3339(op.Created), AgentURL: s.store.HostedAgentURL(op.ID)}
	if op.Billing != nil {
		b := op.Billing.JSON()
		o.Billing = &b
	}
	return o
}
