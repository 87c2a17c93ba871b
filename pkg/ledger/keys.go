package ledger

import "time"

// Key builders. Every key of one account shares the hash tag {account}.

func (l *Ledger) acctKey(account, kind, rest string) string {
	return l.prefix + ":{" + account + "}:" + kind + ":" + rest
}
func (l *Ledger) streamKey(account, day string) string { return l.acctKey(account, "c", day) }
func (l *Ledger) aggKey(account, day string) string    { return l.acctKey(account, "a", day) }
func (l *Ledger) profileKey(account, day string) string {
	return l.acctKey(account, "pr", day)
}
func (l *Ledger) replayKey(account, id string) string  { return l.acctKey(account, "rp", id) }
func (l *Ledger) pubKeyKey(account, kid string) string { return l.acctKey(account, "pk", kid) }
func (l *Ledger) invKey(account, day, cur string) string {
	return l.acctKey(account, "inv", day+":"+cur)
}
func (l *Ledger) histKey(account, day, cur string) string {
	return l.acctKey(account, "invh", day+":"+cur)
}
func (l *Ledger) attemptKey(account, day, cur string) string {
	return l.acctKey(account, "inva", day+":"+cur)
}
func (l *Ledger) carryKey(account, cur string) string    { return l.acctKey(account, "carry", cur) }
func (l *Ledger) carryLogKey(account, cur string) string { return l.acctKey(account, "carrylog", cur) }
func (l *Ledger) quotaKey(account, agreement string, periodStart time.Time) string {
	return l.acctKey(account, "q", agreement+":"+Day(periodStart))
}
func (l *Ledger) prepaidKey(account, agreement string) string {
	return l.acctKey(account, "pp", agreement)
}
func (l *Ledger) topUpKey(account, agreement string) string {
	return l.acctKey(account, "ppt", agreement)
}
func (l *Ledger) dayAccountsKey(day string) string {
	return l.prefix + ":{day:" + day + "}:accounts"
}
func (l *Ledger) dayInvoicesKey(day string) string {
	return l.prefix + ":{day:" + day + "}:invoices"
}
func (l *Ledger) lockKey(name string) string    { return l.prefix + ":{lock:" + name + "}" }
func (l *Ledger) nonceKey(sender string) string { return l.prefix + ":{nonce:" + sender + "}" }
