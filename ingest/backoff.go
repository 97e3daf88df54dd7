package ingest

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect delays: exponential growth from min to max with
// full jitter (a uniform delay between zero and the current ceiling), so a
// fleet of workers that lost the same server does not reconnect in step.
type backoff struct {
	min, max time.Duration
	attempt  int
	// rand returns a uniform value in [0, n); tests replace it.
	rand func(n int64) int64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: rand.Int64N}
}

// next returns the delay before the next attempt and raises the ceiling.
func (b *backoff) next() time.Duration {
	ceiling := b.min
	for i := 0; i < b.attempt && ceiling < b.max; i++ {
		ceiling *= 2
	}
	if ceiling > b.max || ceiling <= 0 {
		ceiling = b.max
	}
	b.attempt++
	if ceiling <= 0 {
		return 0
	}
	// Full jitter, but never below a millisecond: a zero delay would let a
	// server that refuses every connection be hammered in a tight loop.
	d := time.Duration(b.rand(int64(ceiling) + 1))
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// reset starts the next series of failures from the minimum again.
func (b *backoff) reset() { b.attempt = 0 }
