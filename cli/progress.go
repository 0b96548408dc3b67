package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/hunt"
)

// progressBar redraws one status line on a terminal (standard error) while
// a hunt runs: bytes read of the total, events/s, alerts so far and the
// time left. It is only used when standard error is a terminal.
type progressBar struct {
	w     io.Writer
	total int64
	p     *hunt.Progress
	tally *alert.Tally
	width int
	start time.Time
	every time.Duration

	mu    sync.Mutex
	shown bool
	stop  chan struct{}
	done  chan struct{}
}

func newProgressBar(w io.Writer, total int64, p *hunt.Progress, tally *alert.Tally, width int) *progressBar {
	if width <= 0 {
		width = 80
	}
	return &progressBar{w: w, total: total, p: p, tally: tally, width: width, every: 200 * time.Millisecond,
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (b *progressBar) run() {
	b.start = time.Now()
	go func() {
		defer close(b.done)
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.draw()
			}
		}
	}()
}

// finish stops redrawing and erases the line.
func (b *progressBar) finish() {
	close(b.stop)
	<-b.done
	b.clear()
}

// clear erases the line, if shown, before something else is printed on
// the terminal; the next tick redraws it.
func (b *progressBar) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		io.WriteString(b.w, "\r\x1b[K")
		b.shown = false
	}
}

func (b *progressBar) draw() {
	line := b.line(time.Since(b.start))
	b.mu.Lock()
	defer b.mu.Unlock()
	io.WriteString(b.w, "\r\x1b[K"+line)
	b.shown = true
}

// line renders the status line after elapsed.
func (b *progressBar) line(elapsed time.Duration) string {
	read, events, alerts := b.p.BytesRead(), b.p.Events(), b.tally.Total()
	if b.total > 0 && read > b.total {
		read = b.total
	}
	sec := elapsed.Seconds()
	rate := 0.0
	if sec > 0 {
		rate = float64(events) / sec
	}
	stats := fmt.Sprintf(" %s/%s  %.0f events/s  %d alerts", humanBytes(read), humanBytes(b.total), rate, alerts)
	if b.total <= 0 {
		stats = fmt.Sprintf(" %s  %.0f events/s  %d alerts", humanBytes(read), rate, alerts)
		return "vigil:" + stats
	}
	frac := float64(read) / float64(b.total)
	eta := "ETA --:--"
	if frac > 0.01 && sec > 0.5 {
		left := time.Duration(sec * (1 - frac) / frac * float64(time.Second))
		eta = "ETA " + clock(left)
	}
	stats += "  " + eta
	// "vigil: [" bar "] " "100%" stats, short of the last column.
	barWidth := b.width - 1 - len(stats) - len("vigil: [] 100%")
	if barWidth > 40 {
		barWidth = 40
	}
	if barWidth < 10 {
		return fmt.Sprintf("vigil: %3.0f%%%s", frac*100, stats)
	}
	full := int(frac * float64(barWidth))
	return fmt.Sprintf("vigil: [%s%s] %3.0f%%%s", strings.Repeat("#", full), strings.Repeat(".", barWidth-full), frac*100, stats)
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// clearingWriter erases the progress line before each write to a terminal
// that shares the screen with it.
type clearingWriter struct {
	w   io.Writer
	bar *progressBar
}

func (c clearingWriter) Write(p []byte) (int, error) {
	c.bar.mu.Lock()
	defer c.bar.mu.Unlock()
	if c.bar.shown {
		io.WriteString(c.bar.w, "\r\x1b[K")
		c.bar.shown = false
	}
	return c.w.Write(p)
}
