// Package refusals counts what a gateway refuses, per publisher, UTC day,
// crawler account and reason (blocked, over_cap, bad_signature, price,
// billing; see ReasonOf for the codes behind each), with the finer refusal
// code kept beside the reason, and reads the counts back for the
// publisher's page.
//
// A Recorder is fed from the paywall's refusal hook and never delays or
// fails a request: Record only adds to an in-process table (bounded by
// Options.MaxPending; a full table drops the count), and a flusher writes
// the table every Options.Interval in one pipeline of one script call per
// publisher-day. A Redis that is down or slow only drops counts; every
// dropped count is counted in paycrawl_gateway_refusal_counts_dropped_total.
// Counts are statistics, not money: a flush resent by the client after a
// dropped connection may count twice.
//
// Key layout (<p> is Options.Prefix, default "pc:rf"; every key of one
// publisher shares the hash tag {pub:<id>}, as pkg/earnings' keys do, so it
// runs on Redis Cluster unchanged):
//
//	<p>:{pub:<id>}:<YYYY-MM-DD>   hash   <crawler>|<reason>|<code> -> count
//
// <crawler> is the operator whose key verified the request's signature
// (once per signature: a copy counts as Unverified), Unverified when none
// did (the claimed account is never stored), or
// Others once the day's hash holds Options.MaxFields fields. So a flood of
// garbage signatures adds at most one field per counted code, and a flood
// of registered accounts at most MaxFields fields plus one per code: a
// publisher-day hash never holds more than MaxFields plus twice the number
// of counted codes.
// Each hash expires Options.Retention after its day ends.
package refusals
