package main

import "context"

// task is a goroutine with its own cancel, for a command that supervises a
// few (sandbox): the error it returns is kept, and stop hands it over.
type task struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once the goroutine has returned
	err    error         // what it returned; read after done
}

// startTask runs f in a goroutine under a context derived from ctx. f must
// return promptly once its context ends.
func startTask(ctx context.Context, f func(context.Context) error) *task {
	ctx, cancel := context.WithCancel(ctx)
	t := &task{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.err = f(ctx)
	}()
	return t
}

// finished reports whether the goroutine has returned.
func (t *task) finished() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// stop cancels the goroutine's context, waits for it and returns its error.
// It may be called more than once.
func (t *task) stop() error {
	t.cancel()
	<-t.done
	return t.err
}
