// Package actorstest holds test doubles for grain tests.
package actorstest

import (
	"sync"
	"time"

	"github.com/emporium-shop/emporium/actors"
)

// Clock is a clock that moves only when told to. Timers fire, in their own
// goroutines, when Advance passes their time.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a Clock reading now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc calls f once the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) actors.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, later []*timer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			later = append(later, t)
		}
	}
	c.timers = later
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

type timer struct {
	clock *Clock
	at    time.Time
	f     func()
}

// Stop removes the timer; it reports whether the timer had not fired yet.
func (t *timer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, other := range c.timers {
		if other == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}
