// Package ledger is paycrawl's system of record for money: the commitments a
// gateway appends for each paid request, the replay guard, per-crawler-per-day
// aggregates and spend caps, and the invoices, settlement records and
// carry-over balances the settler derives from them. Everything lives in Redis
// (go-redis v9) and every change that moves money is one Lua script, so it is
// atomic and all or nothing.
//
// # Writing
//
// [Ledger.Append] records a commitment in one round trip of one script: it
// checks the replay keys, the day's spend cap and the per-request max price,
// appends the record to the crawler-day's stream, bumps the crawler-day's
// aggregates and archives the signer's public key at first use. The record
// is compact: a binary record per commitment and, once per crawler-day, a
// dictionary of what the crawler's signed requests repeat (see compact.go);
// reads give every field back byte for byte, and still read the records of
// older ledgers (format 1 and JSON). A refused
// append returns a sentinel error saying why ([ErrReplay], [ErrOverCap],
// [ErrOverMaxPrice], [ErrDayClosed]). Append is idempotent: a resent call
// (the same commitment, [Commitment.RequestID] included) returns the original
// commitment id and changes nothing, so retries (go-redis's own, or the caller's) never charge
// twice.
//
// # Reading and settling
//
// The settler lists the crawlers with usage on a day ([Ledger.Accounts]),
// closes each crawler-day ([Ledger.CloseDay]), checks that the aggregate
// equals the stream ([Ledger.Verify]), creates one invoice per currency
// ([Ledger.CreateInvoice]) and walks it through the settlement state machine
// ([Ledger.Transition]) under a lock that hands out fencing tokens
// ([Ledger.AcquireLock]). The check of aggregate against stream is kept on
// each invoice ([Ledger.RecordCheck]), and a rail writes its write-ahead
// record (a signed transaction, before broadcast) on the charging invoice
// with [Ledger.Record], at most one per charge attempt. Invoices below a
// rail's minimum, and sub-cent remainders, move to a per-(crawler, currency)
// carry-over balance that the next invoice consumes ([Ledger.Carry]). Old
// commitment streams are deleted by [Ledger.Trim] once every invoice of their
// day is final.
//
// # Redis Cluster
//
// Every key of one crawler carries the hash tag {<account>}, so each script
// touches one slot and the ledger runs unchanged on Redis Cluster. The per-day
// indexes (accounts with usage, invoices) live in another slot and are written
// by a separate, idempotent SADD before the script that needs them: an index
// entry without data is harmless, data without an index entry would never be
// invoiced. Account ids are validated so that they cannot break the hash tag.
// The key layout is documented on [Ledger].
//
// # Durability
//
// The ledger is only as durable as Redis's append-only file. configs/redis.conf
// (the project-local server on 127.0.0.1:6380) turns AOF on with
// "appendfsync always": every acknowledged append is on disk before Redis
// replies, at the price of throughput. "appendfsync everysec" is faster but a
// power loss or an OS crash can lose up to about one second of acknowledged
// appends (a crash of redis-server alone loses nothing, the kernel still has
// the data). Choose everysec only if losing that second of billing is
// acceptable.
//
// # Amounts
//
// Amounts are [money.Micros] (int64 micro-units). Redis Lua numbers are
// doubles, exact for integers up to 2^53, so the ledger refuses any amount,
// cap or day total above [MaxAmount] (2^53-1 micro-units, about nine billion
// units of a currency); within that bound every comparison in the scripts is
// exact, and sums are kept by HINCRBY/INCRBY as Redis integers.
package ledger
