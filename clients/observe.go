package clients

import (
	"context"
	"net/http"
)

// ResponseObserver sees the status and headers of every HTTP response a
// provider sends on a context given to WithResponseObserver, 2xx or not,
// before the client reads the body: the place to read rate-limit headers
// (x-ratelimit-*, Retry-After) that successful answers carry too. It must
// not keep h, and must return quickly.
type ResponseObserver func(status int, h http.Header)

type observerKey struct{}

// WithResponseObserver returns a context whose provider requests report
// their responses to obs. The pooled client of NewHTTPClient calls
// ObserveResponse for every response; other transports may call it.
func WithResponseObserver(ctx context.Context, obs ResponseObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, obs)
}

// ObserveResponse passes resp's status and headers to the ResponseObserver
// of ctx, if there is one.
func ObserveResponse(ctx context.Context, resp *http.Response) {
	if obs, ok := ctx.Value(observerKey{}).(ResponseObserver); ok && obs != nil && resp != nil {
		obs(resp.StatusCode, resp.Header)
	}
}
