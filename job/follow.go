package job

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// doneWatcher reads a running job's done bitmap every interval and wakes
// the exporter's batches waiting for theirs. One GET of the bitmap (a bit
// per batch) serves every waiter.
type doneWatcher struct {
	mu      sync.Mutex
	bits    []byte
	err     error
	changed chan struct{} // closed and replaced at each reading

	quit    chan struct{}
	stopped chan struct{}
}

func watchDone(rdb redis.Cmdable, id string, batches int, every time.Duration) *doneWatcher {
	w := &doneWatcher{changed: make(chan struct{}), quit: make(chan struct{}), stopped: make(chan struct{})}
	go w.loop(rdb, key(id, keyDone), batches, every)
	return w
}

func (w *doneWatcher) loop(rdb redis.Cmdable, k string, batches int, every time.Duration) {
	defer close(w.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		bits, err := rdb.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		w.mu.Lock()
		if err == nil {
			w.bits = bits
		}
		w.err = err
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		if err == nil && allSet(bits, batches) {
			return
		}
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
	}
}

// wait returns once batch seq has finished, or the bitmap cannot be read.
func (w *doneWatcher) wait(ctx context.Context, seq int) error {
	for {
		w.mu.Lock()
		ok, err, ch := bit(w.bits, seq), w.err, w.changed
		w.mu.Unlock()
		switch {
		case ok:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.stopped:
			w.mu.Lock()
			ok = bit(w.bits, seq)
			w.mu.Unlock()
			if ok {
				return nil
			}
			return errors.New("export stopped")
		case <-ch:
		}
	}
}

func (w *doneWatcher) stop() {
	close(w.quit)
	<-w.stopped
}

// allSet reports whether bits 0 to n-1 are all set.
func allSet(bits []byte, n int) bool {
	for i := range n {
		if !bit(bits, i) {
			return false
		}
	}
	return true
}
