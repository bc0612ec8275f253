package tlog

import "fmt"

// DefaultMaxInflightAdds is Config.MaxInflightAdds when it is zero. On a
// 2-vCPU machine shared with the load generator the embedded store takes
// about 4,000 entries/s, so 4,096 adds in progress wait about a second
// each. An add in progress mostly waits for a checkpoint, which costs
// memory (a few KiB) and no CPU, while each refusal costs a request's
// worth of CPU on both sides and comes back a second later: with 4,096
// clients against a bound of 1,024, refusals took 40 % of the throughput
// (2,390 entries/s, against 3,947 with this bound; docs/benchmarks.md).
const DefaultMaxInflightAdds = 4096

// InflightLimitError is the pushback Add returns at once when Limit adds
// are already in progress (Config.MaxInflightAdds). It matches ErrPushback.
type InflightLimitError struct {
	Limit int64
}

func (e *InflightLimitError) Error() string {
	return fmt.Sprintf("%d adds are already in progress, the most this log takes at once", e.Limit)
}

func (e *InflightLimitError) Unwrap() error { return ErrPushback }

// CheckCapacity returns the *InflightLimitError Add would return if called
// now, without taking a slot, so that a caller can refuse a request before
// reading and verifying it: past capacity, refusals come by the thousand a
// second and must cost next to nothing. Nil promises nothing; Add decides.
func (l *Log) CheckCapacity() error {
	if l.inflight.Load() >= l.maxInflight {
		l.metrics.pushbacks.WithLabelValues(pushbackInflight).Inc()
		return &InflightLimitError{Limit: l.maxInflight}
	}
	return nil
}

// admit takes one of the MaxInflightAdds slots for an Add, or refuses at
// once. Refusing is the point: past the log's capacity every add that
// waits makes every other add wait longer, while a client told to retry
// later costs nothing. A submission found to be a duplicate holds its slot
// too: it waits for the same checkpoint and builds the same proof as a new
// entry, and only costs its slot for as long as that takes.
func (l *Log) admit() (release func(), err error) {
	if l.inflight.Add(1) > l.maxInflight {
		l.inflight.Add(-1)
		l.metrics.pushbacks.WithLabelValues(pushbackInflight).Inc()
		return nil, &InflightLimitError{Limit: l.maxInflight}
	}
	l.metrics.inflight.Inc()
	return func() {
		l.inflight.Add(-1)
		l.metrics.inflight.Dec()
	}, nil
}
