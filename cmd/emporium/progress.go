package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar on w for a long operator task (seed, reindex).
// Its report function takes (done, total) as the tasks report progress and
// may be called from many goroutines; the bar is created on the first call,
// when the total is known.
type progress struct {
	w           io.Writer
	description string

	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, description string) *progress {
	return &progress{w: w, description: description}
}

// report moves the bar to done of total.
func (p *progress) report(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.description),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("items"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(p.w, "\n") }),
		)
	}
	_ = p.bar.Set(done)
}
