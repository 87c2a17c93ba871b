package registry

import (
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one file each; their header comments list KEYS and ARGV.
// Every key a script touches is passed in KEYS and carries the {reg} hash
// tag, so each script runs in one slot on Redis Cluster too.
var (
	//go:embed lua/signup.lua
	signupLua    string
	signupScript = redis.NewScript(signupLua)

	//go:embed lua/add_key.lua
	addKeyLua    string
	addKeyScript = redis.NewScript(addKeyLua)

	//go:embed lua/revoke_key.lua
	revokeKeyLua    string
	revokeKeyScript = redis.NewScript(revokeKeyLua)

	//go:embed lua/set_dir_proof.lua
	setDirProofLua    string
	setDirProofScript = redis.NewScript(setDirProofLua)

	//go:embed lua/hset_existing.lua
	hsetExistingLua    string
	hsetExistingScript = redis.NewScript(hsetExistingLua)

	//go:embed lua/add_agent.lua
	addAgentLua    string
	addAgentScript = redis.NewScript(addAgentLua)

	//go:embed lua/create_publisher.lua
	createPublisherLua    string
	createPublisherScript = redis.NewScript(createPublisherLua)

	//go:embed lua/rotate_publisher_token.lua
	rotatePublisherTokenLua    string
	rotatePublisherTokenScript = redis.NewScript(rotatePublisherTokenLua)

	//go:embed lua/offer_agreement.lua
	offerAgreementLua    string
	offerAgreementScript = redis.NewScript(offerAgreementLua)

	//go:embed lua/decide_agreement.lua
	decideAgreementLua    string
	decideAgreementScript = redis.NewScript(decideAgreementLua)

	//go:embed lua/set_publisher_hosts.lua
	setPublisherHostsLua    string
	setPublisherHostsScript = redis.NewScript(setPublisherHostsLua)

	//go:embed lua/signup_rate.lua
	signupRateLua    string
	signupRateScript = redis.NewScript(signupRateLua)
)

// keyPrefix starts every registry key; {reg} is the hash tag they share.
const keyPrefix = "pc:reg:{reg}:"

// InvalidateChannel is the Redis pub/sub channel on which the store announces
// changes that resolvers must not serve from their caches. A message is
// "<kind> <id>": "op <operator id>", "key <keyid>", "agent <agent URL>" or
// "agreements <operator id>" (the account accepted a version: what is in
// force for it changed; offers, declines and withdrawals change nothing in
// force and are not announced).
const InvalidateChannel = "pc:reg:invalidate"

// MaxTTL is the revocation guarantee: whoever caches registry reads (the
// gateways' key resolver, the hosted directories' max-age) serves them for
// at most MaxTTL, so a revoked key or a suspended operator is refused
// everywhere within MaxTTL even when the invalidation message is lost.
const MaxTTL = 60 * time.Second

func opKey(id string) string           { return keyPrefix + "op:" + id }
func opKeysKey(id string) string       { return keyPrefix + "op:" + id + ":keys" }
func opAgentsKey(id string) string     { return keyPrefix + "op:" + id + ":agents" }
func opsKey() string                   { return keyPrefix + "ops" }
func tokenKey(digest string) string    { return keyPrefix + "tok:" + digest }
func keyKey(keyID string) string       { return keyPrefix + "key:" + keyID }
func agentKey(url string) string       { return keyPrefix + "agent:" + url }
func pubKey(id string) string          { return keyPrefix + "pub:" + id }
func pubsKey() string                  { return keyPrefix + "pubs" }
func pubTokenKey(digest string) string { return keyPrefix + "ptok:" + digest }
func hostKey(host string) string       { return keyPrefix + "host:" + host }
func signupRateKey(ip string, minute int64) string {
	return keyPrefix + "rl:signup:" + ip + ":" + itoa(minute)
}
