// Package healthcheck waits for a worker started as a process to be ready,
// as its /readyz endpoint tells (see cmd/worker).
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/llmq/llmq/clients"
)

// ErrExited is returned by WaitReady when the process ended first.
var ErrExited = errors.New("worker exited at start")

// WaitReady asks http://addr/readyz every interval until it answers 200.
// It returns ErrExited once exited is closed (the process ended), or ctx's
// error wrapped with the last answer once ctx ends.
func WaitReady(ctx context.Context, addr string, exited <-chan struct{}, interval time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			clients.DrainClose(resp.Body)
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return fmt.Errorf("worker not ready: %w (%v)", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}
