package settle

import (
	"context"
	"errors"
	"sync"
)

// each calls fn for every item with at most n at once. An error from fn is
// collected and the others go on, except a fatal one (see fatal), which
// cancels the rest: each then returns it.
//
// If the caller's ctx ends, the items not started are skipped and its error
// is returned with the others.
func each[T any](parent context.Context, n int, items []T, fn func(ctx context.Context, item T) error) []error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, n)
	)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() != nil {
				return
			}
			if err := fn(ctx, it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				if fatal(err) {
					cancel(err)
				}
			}
		}()
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && fatal(cause) {
		return []error{cause}
	}
	if err := parent.Err(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// fatal reports errors that end a whole run: a crash injected by a test, a
// lost lock, a fenced token (another settler took over), a cancelled run.
func fatal(err error) bool {
	return injected(err) || isLockLost(err) || isFenced(err) || errors.Is(err, context.Canceled)
}
