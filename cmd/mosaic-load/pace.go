package main

import (
	"math/rand/v2"
	"time"
)

// lateAfter is how far behind its intended time an open-loop entry may start
// before it counts as late: a sign that --concurrency is too low for --rate,
// so the offered load was not the one asked for.
const lateAfter = 10 * time.Millisecond

// startPacer sends intended start times at rate per second on average, with
// exponentially distributed gaps (a Poisson process, as independent signers
// produce), until done is closed. When every client is busy, the send
// blocks and the schedule falls behind; later starts then catch up, so the
// long-run rate is kept and each late start is visible to the receiver.
func startPacer(rate float64, done <-chan struct{}) <-chan time.Time {
	ch := make(chan time.Time)
	go func() {
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		next := time.Now()
		for {
			next = next.Add(time.Duration(rand.ExpFloat64() / rate * float64(time.Second)))
			if d := time.Until(next); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-done:
					return
				}
			}
			select {
			case ch <- next:
			case <-done:
				return
			}
		}
	}()
	return ch
}
