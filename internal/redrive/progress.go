package redrive

import (
	"context"
	"fmt"
	"time"
)

// progress writes a line every ProgressEvery until the returned function is
// called, which writes a last one. On a terminal (Redraw) each line
// replaces the one before.
func (r *run) progress(ctx context.Context) (stop func()) {
	w := r.o.Progress
	if w == nil {
		return func() {}
	}
	every := r.o.ProgressEvery
	done := make(chan struct{})
	exited := make(chan struct{})
	line := func() {
		s := r.tally.Total()
		read, total := r.read.Load(), r.total.Load()
		elapsed := time.Since(r.start)
		msg := fmt.Sprintf("redrive: read %d of %d letters; %d delivered, %d failed, %d left alone, %d filtered out",
			read, total, s.Delivered, s.Failed, s.Left, s.Filtered)
		if rate := float64(read) / elapsed.Seconds(); read > 0 && total > read && rate > 0 {
			eta := time.Duration(float64(total-read) / rate * float64(time.Second))
			msg += fmt.Sprintf("; %.0f/s, about %s left", rate, eta.Round(time.Second))
		}
		if r.o.Redraw {
			fmt.Fprintf(w, "\r\033[K%s", msg)
		} else {
			fmt.Fprintln(w, msg)
		}
	}
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		line()
		if r.o.Redraw {
			fmt.Fprintln(w)
		}
	}
}
