package client

import (
	"context"
	"sync"
)

// Ordered fetches items [from, to) with at most workers fetches in flight
// and hands them to consume strictly in index order, so a reader can hash
// a log front to back while the next bundles download. It stops at the
// first error of either function (a fetch error is returned when its index
// is reached) and waits for the fetches it started before returning.
func Ordered[T any](ctx context.Context, from, to uint64, workers int,
	fetch func(ctx context.Context, i uint64) (T, error), consume func(i uint64, v T) error) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	// futures holds one channel per started fetch, in index order; its
	// capacity bounds the fetches in flight.
	futures := make(chan chan result, workers-1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1) // the producer, so that Wait cannot pass before its last Add
	go func() {
		defer wg.Done()
		defer close(futures)
		for i := from; i < to; i++ {
			c := make(chan result, 1)
			select {
			case futures <- c:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := fetch(ctx, i)
				c <- result{v, err}
			}()
		}
	}()
	i := from
	for c := range futures {
		r := <-c
		if r.err != nil {
			cancel()
			return r.err
		}
		if err := consume(i, r.v); err != nil {
			cancel()
			return err
		}
		i++
	}
	return ctx.Err()
}
