package main

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// A rangeCheck is one numeric or duration flag's value against the range
// it may take. Every such flag is checked at start, so that a value that
// would panic (a zero ticker), refuse every request (a negative size) or
// time out every add (a negative timeout) is refused with its range instead.
type rangeCheck struct {
	flag     string
	ok       bool
	got, rng string
}

// durationIn checks min ≤ v ≤ max.
func durationIn(flag string, v, min, max time.Duration) rangeCheck {
	return rangeCheck{flag: flag, ok: v >= min && v <= max, got: v.String(), rng: fmt.Sprintf("%s to %s", min, max)}
}

// intIn checks min ≤ v ≤ max.
func intIn[T int | int64 | uint](flag string, v, min, max T) rangeCheck {
	return rangeCheck{flag: flag, ok: v >= min && v <= max, got: fmt.Sprint(v), rng: fmt.Sprintf("%d to %d", min, max)}
}

// checkRanges returns a usage error naming every flag outside its range.
func checkRanges(checks ...rangeCheck) error {
	var errs []error
	for _, c := range checks {
		if !c.ok {
			errs = append(errs, fmt.Errorf("--%s=%s is out of range: allowed %s", c.flag, c.got, c.rng))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return usageError{errors.Join(errs...)}
}

// maxConnectionsAllowed is the most --max-connections the process's file
// descriptor limit leaves room for: 512 are kept for storage, the database
// pool and listeners.
func maxConnectionsAllowed() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return 1 << 20
	}
	return max(16, int(lim.Cur)-512)
}
