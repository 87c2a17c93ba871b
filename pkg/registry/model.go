package registry

import (
	"encoding/json"
	"time"
)

// OperatorStatus is whether an operator's keys are accepted.
type OperatorStatus string

// The operator statuses.
const (
	// StatusActive operators sign requests and are charged.
	StatusActive OperatorStatus = "active"
	// StatusSuspended operators' keys are refused everywhere; an admin
	// reinstates them.
	StatusSuspended OperatorStatus = "suspended"
)

// Operator is a crawler operator: the billing account behind its keys.
type Operator struct {
	// ID is "op_" and 16 base32 characters; it is the billing account id.
	ID      string
	Name    string
	Contact string
	Status  OperatorStatus
	Created time.Time
	// Billing is the operator's billing profile, nil until it sets one.
	Billing *Billing
}

// KeyStatus is the life-cycle state of a registered key.
type KeyStatus string

// The key statuses.
const (
	// KeyActive keys are published and accepted.
	KeyActive KeyStatus = "active"
	// KeyRotated keys were replaced by a rotation; they are published and
	// accepted until ValidUntil.
	KeyRotated KeyStatus = "rotated"
	// KeyRevoked keys are never accepted again.
	KeyRevoked KeyStatus = "revoked"
)

// KeyRecord is a registered public key.
type KeyRecord struct {
	// ID is the key's RFC 7638 thumbprint (the keyid of its signatures).
	ID       string
	Operator string
	// JWK is the public key as published: kty, crv, x and kid.
	JWK     json.RawMessage
	Status  KeyStatus
	Created time.Time
	// ValidUntil is when a rotated key stops being accepted.
	ValidUntil time.Time
	// Revoked is when the key was revoked.
	Revoked time.Time
	// DirectoryProof is the key's own possession proof for its operator's
	// hosted directory (Authority set), nil when none was given.
	DirectoryProof *DirectoryProof
}

// Usable reports whether the key is accepted at time now: active, or
// rotated and still inside its overlap period.
func (k KeyRecord) Usable(now time.Time) bool {
	switch k.Status {
	case KeyActive:
		return true
	case KeyRotated:
		return now.Before(k.ValidUntil)
	}
	return false
}

// Agent is an agent URL (a key directory) of an operator.
type Agent struct {
	URL      string
	Operator string
	// Hosted is true for the directory this service serves for the
	// operator; false for one the operator hosts itself.
	Hosted bool
}

// Account is what a gateway needs to charge an operator.
type Account struct {
	OperatorID string
	Status     OperatorStatus
	Billing    Billing
}
