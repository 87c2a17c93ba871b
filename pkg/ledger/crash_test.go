package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/aofrepair"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// TestCrashSafety SIGKILLs redis-server (appendfsync always) while writers
// append, restarts it on the same AOF, three times. Every acknowledged append
// must survive with its id; every failed one must be an ErrUnavailable that a
// resend with the same request id settles exactly once.
func TestCrashSafety(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{Fsync: "always", Extra: projectConf(t)})
	rdb, err := NewClient(ClientConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	type attempt struct {
		c   *Commitment
		id  string
		err error
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		seq      atomic.Int64
		acked    atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := sampleCommitment("crash", seq.Add(1), 1_000, time.Now())
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				id, err := l.Append(actx, c, Limits{})
				cancel()
				mu.Lock()
				attempts = append(attempts, attempt{c, id, err})
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				} else {
					acked.Add(1)
				}
			}
		}()
	}
	// waitAcks waits until n more appends have been acknowledged.
	waitAcks := func(n int64) {
		t.Helper()
		target := acked.Load() + n
		deadline := time.Now().Add(10 * time.Second)
		for acked.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("writers made no progress (%d acked)", acked.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for round := 0; round < 3; round++ {
		waitAcks(200)
		srv.Kill()
		time.Sleep(50 * time.Millisecond)
		srv.Restart()
	}
	waitAcks(200)
	close(stop)
	wg.Wait()

	day := Day(attempts[0].c.Received)
	days := []string{day}
	if last := Day(attempts[len(attempts)-1].c.Received); last != day {
		days = append(days, last) // the test straddled midnight UTC
	}
	inStream := map[string]string{} // request id → commitment id
	read := func() {
		t.Helper()
		clear(inStream)
		for _, d := range days {
			if err := l.Commitments(ctx, "crash", d, func(c *Commitment) error {
				if prev, dup := inStream[c.RequestID]; dup {
					t.Errorf("request %s recorded twice: %s and %s", c.RequestID, prev, c.ID)
				}
				inStream[c.RequestID] = c.ID
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	read()
	var failed int
	for _, a := range attempts {
		if a.err == nil {
			if inStream[a.c.RequestID] != a.id {
				t.Errorf("acknowledged append %s (%s) lost in the crash", a.id, a.c.RequestID)
			}
			continue
		}
		failed++
		if !errors.Is(a.err, ErrUnavailable) {
			t.Errorf("append failed with %v, want ErrUnavailable", a.err)
		}
		// Resend: lands now, or finds the append that landed before the crash.
		id, err := l.Append(ctx, a.c, Limits{})
		if err != nil {
			t.Errorf("resend of %s: %v", a.c.RequestID, err)
		}
		if prev, ok := inStream[a.c.RequestID]; ok && prev != id {
			t.Errorf("resend of %s returned %s, the stream has %s", a.c.RequestID, id, prev)
		}
	}
	read()
	if len(inStream) != len(attempts) {
		t.Errorf("stream has %d commitments for %d distinct requests", len(inStream), len(attempts))
	}
	if err := l.Verify(ctx, "crash", day); err != nil {
		t.Error(err)
	}
	t.Logf("%d appends, %d acknowledged, %d failed during the crashes and resent", len(attempts), acked.Load(), failed)
}

// The tests below cut the AOF that ledger.Append wrote, as a crash in the
// middle of a write does, and load it with a real redis-server. Redis 7
// writes each append script's changes as one MULTI ... EXEC block; a load must
// see all of a block or none of it (internal/aofrepair).

var (
	aofMulti = []byte("*1\r\n$5\r\nMULTI\r\n")
	aofExec  = []byte("*1\r\n$4\r\nEXEC\r\n")
)

// aofBlock is the byte range [start, end) of one MULTI ... EXEC block.
type aofBlock struct{ start, end int }

// aofBlocks finds the blocks of an incr file. Ledger records are JSON, which
// holds no raw CRLF, so the byte patterns cannot occur inside an argument.
func aofBlocks(t *testing.T, data []byte) []aofBlock {
	t.Helper()
	var blocks []aofBlock
	for at := 0; ; {
		s := bytes.Index(data[at:], aofMulti)
		if s < 0 {
			return blocks
		}
		e := bytes.Index(data[at+s:], aofExec)
		if e < 0 {
			t.Fatalf("MULTI at %d without EXEC", at+s)
		}
		blocks = append(blocks, aofBlock{at + s, at + s + e + len(aofExec)})
		at += s + e + len(aofExec)
	}
}

// aofFiles is a copy of an AOF directory.
type aofFiles map[string][]byte

func readAOF(t *testing.T, dir string) aofFiles {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := aofFiles{}
	for _, e := range ents {
		if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// write replaces dir's contents with files, incr (when not "") cut to n bytes.
func (files aofFiles) write(t *testing.T, dir, incr string, n int) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if name == incr {
			data = data[:n]
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lastIncr names the manifest's last incr file, the one appends go to.
func (files aofFiles) lastIncr(t *testing.T) string {
	t.Helper()
	var last string
	for name, data := range files {
		if !strings.HasSuffix(name, ".manifest") {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 6 && f[5] == "i" {
				last = f[1]
			}
		}
	}
	if last == "" {
		t.Fatalf("no incr file in the manifest: %v", files)
	}
	return last
}

// loaded checks that what the server holds for account's day is whole: every
// commitment has its replay keys, there are no others, and the aggregate
// equals the stream's sums. It returns the commitments.
func loaded(t *testing.T, l *Ledger, account, day string) []*Commitment {
	t.Helper()
	ctx := context.Background()
	var cs []*Commitment
	if err := l.Commitments(ctx, account, day, func(c *Commitment) error {
		cs = append(cs, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var replay int
	for _, c := range cs {
		for _, id := range c.ReplayIDs {
			replay++
			v, err := l.rdb.Get(ctx, l.replayKey(account, id)).Result()
			if err != nil || v != packedID(c.ID) {
				t.Errorf("commitment %s (%s): replay key %s = %q, %v", c.ID, c.RequestID, id, v, err)
			}
		}
	}
	keys, err := l.rdb.Keys(ctx, l.replayKey(account, "*")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != replay {
		t.Errorf("%d replay keys for %d commitments with %d replay ids", len(keys), len(cs), replay)
	}
	if err := l.Verify(ctx, account, day); err != nil {
		t.Error(err)
	}
	return cs
}

// cutLedger is a server (started with the project's redis.conf, appendfsync
// always, no automatic repair) and a ledger on it.
func cutLedger(t *testing.T, extra ...string) (*testredis.Server, *Ledger) {
	t.Helper()
	srv := testredis.Start(t, testredis.Options{Fsync: "always", SkipRepair: true, Extra: append(projectConf(t), extra...)})
	rdb, err := NewClient(ClientConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return srv, l
}

// TestAOFCutAtEveryOffset writes an AOF with Append (an RDB base from a
// rewrite, then an incr file of append blocks), cuts its incr file at every
// byte offset of its last two blocks, and proves for each cut that:
//   - redis-server with the project's redis.conf (aof-load-truncated no)
//     refuses a file cut inside a block rather than loading part of it
//     (checked on every command boundary inside the last block and a sample
//     of other offsets: each refusal is a redis-server start);
//   - aofrepair.Repair cuts back to a block boundary, losing no complete
//     block, and redis-server then loads a whole ledger: as many commitments
//     as complete blocks, each with its replay keys, aggregates equal to the
//     stream.
//
// Repair plans (a dry run, the same scan) at every offset; the repaired file
// depends only on where the cut fell (which block, or which command between
// blocks), so Repair runs for real and redis-server loads the result once per
// distinct repaired file, from the longest cut that gives it.
func TestAOFCutAtEveryOffset(t *testing.T) {
	srv, l := cutLedger(t)
	ctx := context.Background()
	now := time.Now()
	const account = "cut"
	day := Day(now)
	appendN := func(from, to int64) {
		t.Helper()
		for i := from; i <= to; i++ {
			if _, err := l.Append(ctx, sampleCommitment(account, i, money.Micros(1000+i), now), Limits{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	const inBase, inIncr = 4, 4
	appendN(1, inBase)
	// A rewrite puts the first appends into the RDB base file
	// (aof-use-rdb-preamble yes) and starts a new incr file.
	if err := l.rdb.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := l.rdb.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrites:1\r\n") && strings.Contains(info, "aof_rewrite_in_progress:0\r\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AOF rewrite did not finish:\n%s", info)
		}
	}
	appendN(inBase+1, inBase+inIncr)
	srv.Kill()

	aofDir := filepath.Join(srv.Dir(), aofrepair.DirName)
	pristine := readAOF(t, aofDir)
	incr := pristine.lastIncr(t)
	data := pristine[incr]
	blocks := aofBlocks(t, data)
	if len(blocks) != inIncr {
		t.Fatalf("%s holds %d blocks, want %d", incr, len(blocks), inIncr)
	}
	var base bool
	for name := range pristine {
		base = base || strings.HasSuffix(name, ".base.rdb")
	}
	if !base {
		t.Fatalf("no RDB base file after the rewrite: %v", pristine)
	}
	whole := func(n int) int { // complete blocks in data[:n]
		k := 0
		for _, b := range blocks {
			if b.end <= n {
				k++
			}
		}
		return k
	}
	inside := func(n int) bool { // a cut at n falls inside a block
		for _, b := range blocks {
			if b.start < n && n < b.end {
				return true
			}
		}
		return false
	}
	began := time.Now()

	// Plan the repair at every offset (a dry run: the same scan, no write).
	from := blocks[len(blocks)-2].start
	scratch := filepath.Join(t.TempDir(), aofrepair.DirName)
	repaired := map[int][]int{} // repaired length → the cuts that give it
	pristine.write(t, scratch, "", 0)
	for n := from; n <= len(data); n++ {
		if err := os.WriteFile(filepath.Join(scratch, incr), data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := aofrepair.Repair(scratch, aofrepair.Options{DryRun: true})
		if err != nil {
			t.Fatalf("repair of a cut at %d: %v", n, err)
		}
		k := n
		if len(rep.Cuts) > 0 {
			c := rep.Cuts[0]
			if len(rep.Cuts) > 1 || c.File != incr || c.End != int64(n) {
				t.Fatalf("cut at %d: want at most one cut, of the tail: %v", n, rep)
			}
			k = int(c.Start)
		}
		switch {
		case inside(k):
			t.Fatalf("cut at %d: repaired to %d, inside a block", n, k)
		case whole(k) != whole(n):
			t.Fatalf("cut at %d: repaired to %d, losing a complete block", n, k)
		}
		repaired[k] = append(repaired[k], n)
	}
	planTime := time.Since(began)
	// Repair for real and load in redis-server, once per distinct result
	// (from the longest cut that gives it).
	starts := 0
	for k, cuts := range repaired {
		n := cuts[len(cuts)-1]
		pristine.write(t, aofDir, incr, n)
		if _, err := aofrepair.Repair(aofDir, aofrepair.Options{}); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(aofDir, incr)); err != nil || !bytes.Equal(got, data[:k]) {
			t.Fatalf("cut at %d: repaired file is not the first %d bytes (%v)", n, k, err)
		}
		if err := srv.TryRestart(); err != nil {
			t.Fatalf("cut at %d, repaired to %d: %v", n, k, err)
		}
		starts++
		if got, want := len(loaded(t, l, account, day)), inBase+whole(k); got != want {
			t.Errorf("cut at %d, repaired to %d: %d commitments loaded, want %d", n, k, got, want)
		}
		srv.Kill()
	}

	// Without the repair redis-server must refuse every cut inside a block:
	// every command boundary of the last block, and every 61st byte of the
	// last two.
	last := blocks[len(blocks)-1]
	var sample []int
	for n := last.start + 1; n < last.end; n++ {
		if data[n-1] == '\n' && data[n] == '*' {
			sample = append(sample, n)
		}
	}
	for n := from; n <= len(data); n += 61 {
		sample = append(sample, n)
	}
	sample = append(sample, len(data))
	for _, n := range sample {
		pristine.write(t, aofDir, incr, n)
		err := srv.TryRestart()
		starts++
		if inside(n) {
			if err == nil {
				srv.Kill()
				t.Fatalf("redis-server loaded an AOF cut inside a block, at %d", n)
			}
			if !strings.Contains(err.Error(), "Unexpected end of file") {
				t.Errorf("cut at %d: redis-server failed to start, but not on the cut: %v", n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut at %d between blocks: %v", n, err)
		}
		if got, want := len(loaded(t, l, account, day)), inBase+whole(n); got != want {
			t.Errorf("cut at %d: %d commitments loaded, want %d", n, got, want)
		}
		srv.Kill()
	}
	t.Logf("%d cuts (bytes %d-%d of %s) planned in %v, repaired to %d distinct files; %d redis-server starts; %v in all",
		len(data)-from+1, from, len(data), incr, planTime.Round(time.Millisecond), len(repaired), starts, time.Since(began).Round(time.Millisecond))
}

// TestTruncatedLoadHalfBlock reproduces the defect that aof-load-truncated yes
// causes, on a real redis-server, and proves that aofrepair.Repair undoes it.
// A crash cuts an append's block; a load with aof-load-truncated yes keeps
// its MULTI and first writes; the crawler's resend of that request is
// appended after them; the next load applies the half block too, and the
// request is recorded twice. Repair removes the half block and keeps every
// write after it.
func TestTruncatedLoadHalfBlock(t *testing.T) {
	srv, l := cutLedger(t, "aof-load-truncated yes") // the old configuration
	ctx := context.Background()
	now := time.Now()
	const account = "half"
	day := Day(now)
	var cs []*Commitment
	for i := int64(1); i <= 4; i++ {
		cs = append(cs, sampleCommitment(account, i, money.Micros(1000+i), now))
	}
	for _, c := range cs[:3] {
		if _, err := l.Append(ctx, c, Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	aofDir := filepath.Join(srv.Dir(), aofrepair.DirName)
	files := readAOF(t, aofDir)
	incr := files.lastIncr(t)
	blocks := aofBlocks(t, files[incr])
	third := blocks[len(blocks)-1]
	// Cut inside the block's first replay key SET, after its XADD and
	// HINCRBYs: a crash before that append was fsynced (it was never
	// acknowledged).
	set := bytes.Index(files[incr][third.start:], []byte("*5\r\n$3\r\nSET\r\n"))
	if set < 0 || third.start+set > third.end {
		t.Fatalf("no replay key SET in the last block")
	}
	cut := third.start + set + 20
	files.write(t, aofDir, incr, cut)
	if err := srv.TryRestart(); err != nil {
		t.Fatal(err)
	}
	if got := len(loaded(t, l, account, day)); got != 2 {
		t.Fatalf("after the truncated load: %d commitments, want 2", got)
	}
	// The resend of the third request and a fourth append land after the
	// half block that the truncated load left in the file.
	for _, c := range cs[2:] {
		if _, err := l.Append(ctx, c, Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	files = readAOF(t, aofDir)

	// Without the repair, the next load applies the half block.
	if err := srv.TryRestart(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	var cms []*Commitment
	if err := l.Commitments(ctx, account, day, func(c *Commitment) error {
		ids[c.RequestID]++
		cms = append(cms, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ids[cs[2].RequestID] != 2 {
		t.Fatalf("the defect did not reproduce: request counts %v", ids)
	}
	srv.Kill()

	files.write(t, aofDir, "", 0)
	rep, err := aofrepair.Repair(aofDir, aofrepair.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cuts) != 1 {
		t.Fatalf("repair: %v, want one cut", rep)
	}
	t.Log(rep)
	if err := srv.TryRestart(); err != nil {
		t.Fatal(err)
	}
	got := loaded(t, l, account, day)
	if len(got) != len(cs) {
		t.Fatalf("after the repair: %d commitments, want %d", len(got), len(cs))
	}
	for i, c := range got {
		if c.RequestID != cs[i].RequestID {
			t.Errorf("commitment %d is %s, want %s", i, c.RequestID, cs[i].RequestID)
		}
	}
	// The half block's XADD is the one gone; the resend's entry stays.
	if want := cms[len(cms)-2].ID; got[2].ID != want {
		t.Errorf("kept entry %s for the resent request, want the resend's %s", got[2].ID, want)
	}
}
