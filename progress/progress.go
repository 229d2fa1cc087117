// Package progress draws the progress of a long count on a terminal as a
// bar redrawn in place (rate and time left included), and elsewhere as a
// plain line now and then, so that logs and CI output stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Intervals between two drawings.
const (
	// TerminalInterval is how often a bar on a terminal is redrawn.
	TerminalInterval = 200 * time.Millisecond
	// PlainInterval is how often a plain line is written.
	PlainInterval = 5 * time.Second
)

// barWidth is the number of cells of the bar.
const barWidth = 30

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Meter draws the progress of one count. Its methods are safe for
// concurrent use.
type Meter struct {
	w        io.Writer
	label    string
	tty      bool
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	start  time.Time
	base   int64 // done at start
	last   time.Time
	drawn  bool // a bar is on the current terminal line
	done   int64
	total  int64
	closed bool
}

// New returns a Meter writing to w: a bar when tty, else a plain line
// every PlainInterval. The label starts each drawing ("enqueue", "embed").
func New(w io.Writer, label string, tty bool) *Meter {
	m := &Meter{w: w, label: label, tty: tty, interval: PlainInterval, now: time.Now}
	if tty {
		m.interval = TerminalInterval
	}
	return m
}

// Set records done of total (total 0: unknown) and draws if the last
// drawing is older than the interval. The rate counts from the first Set.
func (m *Meter) Set(done, total int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.start.IsZero() {
		m.start, m.base, m.last = now, done, now
	}
	m.done, m.total = done, total
	if m.closed || now.Sub(m.last) < m.interval {
		return
	}
	m.last = now
	m.draw(now)
}

// Printf writes a message line without garbling the bar: the bar is
// cleared first and drawn again after.
func (m *Meter) Printf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drawn {
		fmt.Fprint(m.w, "\r\033[K")
	}
	fmt.Fprintf(m.w, format, args...)
	if m.drawn {
		m.draw(m.now())
	}
}

// Done draws the final state and ends the line; later calls do nothing.
func (m *Meter) Done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.start.IsZero() {
		m.closed = true
		return
	}
	m.closed = true
	m.draw(m.now())
	if m.tty {
		fmt.Fprintln(m.w)
	}
}

func (m *Meter) draw(now time.Time) {
	line := Line(m.label, m.done, m.total, m.rate(now), m.tty)
	if m.tty {
		fmt.Fprint(m.w, "\r\033[K"+line)
		m.drawn = true
		return
	}
	fmt.Fprintln(m.w, line)
}

func (m *Meter) rate(now time.Time) float64 {
	el := now.Sub(m.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(m.done-m.base) / el
}

// Line formats one drawing: with bar, "label [=====>    ]  45% 450000/1000000
// 21345/s ETA 26s"; without, "label: 450000/1000000 (45%), 21345/s, ETA 26s".
func Line(label string, done, total int64, rate float64, bar bool) string {
	var b strings.Builder
	pct := -1.0
	if total > 0 {
		pct = min(float64(done)/float64(total), 1)
	}
	eta := "ETA ?"
	if rate > 0 && total > 0 {
		left := max(total-done, 0)
		eta = "ETA " + (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
	}
	count := fmt.Sprintf("%d/%d", done, total)
	if total <= 0 {
		count = fmt.Sprintf("%d", done)
	}
	if bar {
		b.WriteString(label + " [")
		cells := 0
		if pct > 0 {
			cells = int(pct * barWidth)
		}
		b.WriteString(strings.Repeat("=", cells))
		if cells < barWidth {
			b.WriteString(">" + strings.Repeat(" ", barWidth-cells-1))
		}
		b.WriteString("] ")
		if pct >= 0 {
			fmt.Fprintf(&b, "%3.0f%% ", pct*100)
		}
		fmt.Fprintf(&b, "%s  %.0f/s  %s", count, rate, eta)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %s", label, count)
	if pct >= 0 {
		fmt.Fprintf(&b, " (%.0f%%)", pct*100)
	}
	fmt.Fprintf(&b, ", %.0f/s, %s", rate, eta)
	return b.String()
}
