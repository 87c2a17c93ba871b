// Package archive is the ledger's cold tier: once every invoice of a
// crawler-day is final, the Archiver copies the day's commitments out of
// Redis into a segment on cheap durable storage (a local directory or any
// S3-compatible object store, see the localstore and s3store packages),
// checks the copy, records it in a hash-chained manifest, and only then
// trims the Redis stream. Tiered reads a crawler-day from Redis while its
// stream is there and from its segment after, so the finance audit, the
// commitments CSV and the usage API read archived days transparently.
//
// # Segment format
//
// A segment is zstd-compressed NDJSON: one JSON object (a Record) per
// commitment, in append order, each carrying everything needed to
// re-verify it offline, the signer's public JWK included. It was chosen
// over Parquet because it is written and read as a stream in constant
// memory (a Parquet writer buffers row groups and its reader wants the
// footer first, which an object store serves only by a second ranged
// read), because any machine reads it with zstdcat | jq, DuckDB's
// read_json or pandas without a schema, and because the fields that
// repeat from one commitment to the next (agent, key, covered headers,
// the JWK) cost zstd a few bytes each, which is most of what a columnar
// layout would save. Each zstd frame carries its content checksum.
//
// A frame ends every 256 records, and the segment ends with an index of
// its frames (offset and first record id of each) in a zstd skippable
// frame, which decoders pass over (see index.go): a page of an archived
// day seeks to the frame that holds its first record, so paging through a
// day reads its segment about once. Segments written before the index are
// read from their start.
//
// # Layout of a store
//
//	segments/<day>/<account>.ndjson.zst   one crawler-day's commitments
//	manifests/<seq>-<day>.json            one archiving run of one day
//
// A manifest lists the crawler-days a run archived (Entry: counts, sums in
// int64 micro-units by currency and by publisher site, the invoices, the
// segment's SHA-256 and size) and chains them: each entry carries the hash
// of the entry before it, the first entry of a manifest the last of the
// previous manifest, so that a removed, reordered or altered entry or
// segment breaks the chain (Archiver.VerifyChain).
//
// # Steps and failures
//
// For each crawler-day ArchiveDay writes the segment (the store makes it
// durable: fsync of file and directory, or a completed PUT), reads it back
// and compares it record by record with the stream and sum by sum with the
// invoices, then writes the run's manifest, then trims the streams. A
// failure at any step loses nothing and a rerun resumes: a segment without
// a manifest entry is written again, an entry whose stream is still in
// Redis is trimmed.
//
// # Weekly, monthly and agreement invoices
//
// A crawler-day that a weekly or monthly invoice covers (dated its
// period's last day; ledger.Aggregate.InvoicedOn) is final once that
// invoice is. Such an invoice, and any other made of computed lines (a
// crawler on agreements: lines by site, agreement, version and charge
// kind, fee lines), spans more than the day's segment, so it is not
// compared with the day's sums: Options.Invoices (settle.LinesCheck)
// re-derives it from the commitments of every day it covers, read from
// Redis or from the archive, and from the crawler's agreements, at
// archiving and again in Check.
package archive
