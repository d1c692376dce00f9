package sandbox

import (
	"context"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// Console is where the sandbox command writes: permanent text (the banner,
// the summary, log lines) and a status line. On a terminal (live) the status
// line is redrawn in place at the bottom and everything else appears above
// it; elsewhere each status is a line of its own, so a log file or CI output
// reads top to bottom. It is safe for concurrent use.
type Console struct {
	mu    sync.Mutex
	out   io.Writer
	live  bool
	width func() int
	shown string // the status line on screen, live only
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// NewConsole returns a Console writing to out. live redraws the status line
// in place, for a terminal; width, if not nil, tells the terminal's width so
// a live line never wraps (a wrapped line could not be erased).
func NewConsole(out io.Writer, live bool, width func() int) *Console {
	return &Console{out: out, live: live, width: width}
}

// Live reports whether the status line is redrawn in place.
func (c *Console) Live() bool { return c.live }

// Print writes text, which should end in a newline, above the status line.
func (c *Console) Print(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hideLocked()
	_, _ = io.WriteString(c.out, text)
	c.showLocked()
}

// Status shows line: in place and cut to the terminal's width when live,
// else as a line of its own.
func (c *Console) Status(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		_, _ = io.WriteString(c.out, line+"\n")
		return
	}
	if c.width != nil {
		line = fit(line, c.width())
	}
	c.shown = line
	_, _ = io.WriteString(c.out, clearLine+line)
}

// EndStatus stops redrawing: the last status line stays where it is and
// whatever comes next starts on a line of its own.
func (c *Console) EndStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.shown != "" {
		_, _ = io.WriteString(c.out, "\n")
	}
	c.shown = ""
}

// Above returns a writer to w whose writes appear above the status line:
// on a terminal where w and the Console share the screen (logs on stderr,
// status on stdout), the line is erased before each write and redrawn after.
func (c *Console) Above(w io.Writer) io.Writer { return aboveWriter{c: c, w: w} }

type aboveWriter struct {
	c *Console
	w io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	a.c.hideLocked()
	n, err := a.w.Write(p)
	a.c.showLocked()
	return n, err
}

func (c *Console) hideLocked() {
	if c.live && c.shown != "" {
		_, _ = io.WriteString(c.out, clearLine)
	}
}

func (c *Console) showLocked() {
	if c.live && c.shown != "" {
		_, _ = io.WriteString(c.out, c.shown)
	}
}

// fit cuts s to fewer than width runes (the last column stays free, since
// writing into it makes some terminals wrap), ending a cut line with "…".
func fit(s string, width int) string {
	if width <= 1 || utf8.RuneCountInString(s) < width {
		return s
	}
	keep := width - 2
	for i := range s {
		if keep == 0 {
			return s[:i] + "…"
		}
		keep--
	}
	return s
}

// Report shows read's Status on c every interval until ctx ends. A live
// console gets its first line at once; a log gets its first after one
// interval, so it does not open with a line of zeros. It returns when ctx
// ends, without a last reading: the caller prints a summary instead.
func Report(ctx context.Context, c *Console, interval time.Duration, read func(context.Context) Status) {
	if c.Live() {
		c.Status(read(ctx).Line())
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.Status(read(ctx).Line())
		}
	}
}
