package review

import (
	"fmt"
	"time"

	"github.com/revokd/revokd/queue"
)

// ClockHealth is the health line of the 24-hour clock, and whether it is
// in trouble (a request past the deadline). The process stays healthy
// either way: it is the desk that is late, and restarting would not help.
func ClockHealth(c queue.ReviewClock, now time.Time) (line string, late bool) {
	oldest := "none"
	if !c.Oldest.IsZero() {
		oldest = span(now.Sub(c.Oldest))
	}
	late = c.Over24h > 0
	status := "ok"
	if late {
		status = "LATE"
	} else if c.Over12h > 0 {
		status = "warn"
	}
	return fmt.Sprintf("review %s: %d waiting, oldest %s, %d past 12 h, %d past 24 h", status, c.Waiting, oldest, c.Over12h, c.Over24h), late
}
