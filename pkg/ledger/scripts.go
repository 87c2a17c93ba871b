package ledger

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one file each; their header comments list KEYS and ARGV.
// redis.Script runs them with EVALSHA and falls back to EVAL on NOSCRIPT.
var (
	//go:embed lua/append.lua
	appendLua    string
	appendScript = redis.NewScript(appendLua)

	//go:embed lua/close_day.lua
	closeDayLua    string
	closeDayScript = redis.NewScript(closeDayLua)

	//go:embed lua/create_invoice.lua
	createInvoiceLua    string
	createInvoiceScript = redis.NewScript(createInvoiceLua)

	//go:embed lua/create_lines.lua
	createLinesLua    string
	createLinesScript = redis.NewScript(createLinesLua)

	//go:embed lua/transition.lua
	transitionLua    string
	transitionScript = redis.NewScript(transitionLua)

	//go:embed lua/note.lua
	noteLua    string
	noteScript = redis.NewScript(noteLua)

	//go:embed lua/check.lua
	checkLua    string
	checkScript = redis.NewScript(checkLua)

	//go:embed lua/credit.lua
	creditLua    string
	creditScript = redis.NewScript(creditLua)

	//go:embed lua/refund.lua
	refundLua    string
	refundScript = redis.NewScript(refundLua)

	//go:embed lua/lock_acquire.lua
	lockAcquireLua    string
	lockAcquireScript = redis.NewScript(lockAcquireLua)

	//go:embed lua/lock_release.lua
	lockReleaseLua    string
	lockReleaseScript = redis.NewScript(lockReleaseLua)

	//go:embed lua/nonce_claim.lua
	nonceClaimLua    string
	nonceClaimScript = redis.NewScript(nonceClaimLua)

	//go:embed lua/nonce_release.lua
	nonceReleaseLua    string
	nonceReleaseScript = redis.NewScript(nonceReleaseLua)

	//go:embed lua/trim.lua
	trimLua    string
	trimScript = redis.NewScript(trimLua)

	//go:embed lua/prepaid_credit.lua
	prepaidCreditLua    string
	prepaidCreditScript = redis.NewScript(prepaidCreditLua)

	//go:embed lua/prepaid_reverse.lua
	prepaidReverseLua    string
	prepaidReverseScript = redis.NewScript(prepaidReverseLua)

	//go:embed lua/prepaid_dispute.lua
	prepaidDisputeLua    string
	prepaidDisputeScript = redis.NewScript(prepaidDisputeLua)

	//go:embed lua/prepaid_resume.lua
	prepaidResumeLua    string
	prepaidResumeScript = redis.NewScript(prepaidResumeLua)
)
