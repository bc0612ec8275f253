package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestOrdered(t *testing.T) {
	var inFlight, peak atomic.Int32
	fetch := func(ctx context.Context, i uint64) (uint64, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(7-i%7) * 100 * time.Microsecond) // later items finish first
		if i == 40 {
			return 0, errors.New("fetch 40 failed")
		}
		return i * i, nil
	}
	var got []uint64
	err := Ordered(context.Background(), 3, 30, 4, fetch, func(i, v uint64) error {
		if v != i*i {
			return fmt.Errorf("item %d got %d", i, v)
		}
		got = append(got, i)
		return nil
	})
	if err != nil || len(got) != 27 || got[0] != 3 || got[26] != 29 {
		t.Fatalf("Ordered: %v, consumed %v", err, got)
	}
	for k := 1; k < len(got); k++ {
		if got[k] != got[k-1]+1 {
			t.Fatalf("out of order: %v", got)
		}
	}
	if p := peak.Load(); p > 4 {
		t.Errorf("%d fetches in flight, limit 4", p)
	}

	got = nil
	err = Ordered(context.Background(), 30, 100, 8, fetch, func(i, v uint64) error {
		got = append(got, i)
		return nil
	})
	if err == nil || err.Error() != "fetch 40 failed" || len(got) != 10 {
		t.Errorf("fetch error: %v after consuming %v, want the error after 30..39", err, got)
	}
	err = Ordered(context.Background(), 0, 100, 8, fetch, func(i, v uint64) error {
		if i == 5 {
			return errors.New("consume 5 failed")
		}
		return nil
	})
	if err == nil || err.Error() != "consume 5 failed" {
		t.Errorf("consume error: %v", err)
	}
	if err := Ordered(context.Background(), 5, 5, 8, fetch, nil); err != nil {
		t.Errorf("empty range: %v", err)
	}
}
