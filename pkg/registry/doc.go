// Package registry is paycrawl's record of crawler operators: who they are,
// the Ed25519 keys they sign with, the agent URLs (key directories) that
// publish those keys, and how they pay; and of publishers: how and when
// their earnings are paid out, and which hosts they may sell agreements for
// (Publisher). It is storage: it speaks neither
// HTTP nor the protocol's error codes. The gateways' key resolver, which
// caches its reads and translates its refusals into protocol codes, is
// pkg/paywall/keys.
//
// State lives in Redis (go-redis v9, any redis.UniversalClient). Every key
// starts with "pc:reg:{reg}:": the whole registry shares one hash tag, so it
// runs unchanged on Redis Cluster and every multi-key update is a single
// atomic Lua script (lua/*.lua). The registry is small and written rarely,
// and gateways read it through an in-process cache, so one slot is plenty.
//
//	pc:reg:{reg}:ops                  zset   operator ids, scored by creation (ms)
//	pc:reg:{reg}:op:<op id>           hash   id, name, contact, status, created, token_hash, billing (JSON), stripe_customer,
//	                                         settlement_period, settlement_period_changed
//	pc:reg:{reg}:op:<op id>:keys      set    keyids the operator registered (never shrinks)
//	pc:reg:{reg}:op:<op id>:agents    set    external agent URLs the operator registered
//	pc:reg:{reg}:tok:<sha-256 hex>    string operator id of an API token
//	pc:reg:{reg}:key:<keyid>          hash   id, operator, jwk, status, created, valid_until, revoked, call
//	pc:reg:{reg}:agent:<agent URL>    string operator id of an external agent URL
//	pc:reg:{reg}:pubs                 zset   publisher ids, scored by creation (ms)
//	pc:reg:{reg}:pub:<publisher id>   hash   id, name, contact, payout (JSON), minimum_payout, fee_bps, hosts (space-separated),
//	                                         created, updated, token_hash
//	pc:reg:{reg}:ptok:<sha-256 hex>   string publisher id of a publisher API token
//	pc:reg:{reg}:host:<host>          string publisher id holding a host (hosts.go)
//	pc:reg:{reg}:rl:signup:<ip>:<min> string sign-up counter of one client address and minute
//	pc:reg:{reg}:agr:…, agrs, op:<op id>:agrs…, pub:<publisher id>:agrs…  agreements (agreements.go)
//
// A keyid, once registered, is never registered again by anyone: its record
// is kept forever, whatever its status. Tokens are stored only as SHA-256
// digests. Private keys never reach the registry: a key is registered with a
// proof of possession (ProofMessage, Proof), a signature by the private key
// over a message naming the operator, the keyid and the time.
//
// Changes that must reach gateways quickly (revocations, rotations,
// suspensions, billing and agent changes) are published on the Redis channel
// InvalidateChannel (SubscribeInvalidations); a resolver drops the affected
// cache entries at once, and its cache TTL (at most MaxTTL, 60 s) bounds
// staleness when a message is lost.
//
// For the evm rail the registry stores the wallet with its proof of ownership
// (WalletProof, walletproof.go): the wallet's key signs, with EIP-191
// personal_sign, a message naming the operator, the wallet, the chain id, the
// settler's address and the time (WalletClaim.Message), so that nobody can
// make another party's wallet pay; the proof is kept with the profile for
// audit, and the settler verifies it again before every charge. Whether the
// wallet has approved an allowance to the settler's address is checked at
// settlement time, by the settler, not here.
package registry
