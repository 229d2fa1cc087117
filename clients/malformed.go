package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
)

// ErrMalformedAnswer marks a successful (2xx) answer whose body cannot be
// the answer to the request: truncated or invalid JSON, not one vector per
// input, a value outside float32's range. Sending the request again may
// help once (a proxy that cut the body); the embed handler tries once
// more, then fails the texts with the reason, since every attempt costs
// the provider's tokens.
var ErrMalformedAnswer = errors.New("malformed answer")

// Malformed returns err, the failure to decode a 2xx answer's body, marked
// with ErrMalformedAnswer and named (truncated JSON, invalid JSON, a value
// outside float32's range) when it is a decoding failure; a failure of ctx
// or of the connection (a reset) is returned as ContextError(ctx, err).
func Malformed(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ContextError(ctx, err)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: truncated JSON (%w)", ErrMalformedAnswer, err)
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at byte %d (%w)", ErrMalformedAnswer, syn.Offset, err)
	case errors.As(err, &typ) && typ.Type != nil && typ.Type.Kind() == reflect.Float32:
		return fmt.Errorf("%w: %s outside float32's range (%w)", ErrMalformedAnswer, typ.Value, err)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: %w", ErrMalformedAnswer, err)
	}
	return err
}

// MalformedVectors marks err, which says why an answer's vectors do not
// fit the request (CheckVectors), with ErrMalformedAnswer.
func MalformedVectors(err error) error {
	if err == nil || errors.Is(err, ErrMalformedAnswer) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformedAnswer, err)
}

// checkFinite reports the first value of vectors that is NaN or infinite.
func checkFinite(vectors [][]float32) error {
	for i, v := range vectors {
		if err := CheckFinite(v); err != nil {
			return fmt.Errorf("vector %d: %w", i, err)
		}
	}
	return nil
}

// CheckFinite reports the first value of v that is NaN or infinite. A
// client that decodes vectors one by one checks each as it is decoded,
// while it is in the CPU's cache, and the rest with CheckShapes.
func CheckFinite(v []float32) error {
	for j, x := range v {
		// NaN and the infinities are the values whose exponent bits are
		// all ones: one mask and compare, not two float64 tests.
		if math.Float32bits(x)&float32Exponent == float32Exponent {
			return fmt.Errorf("value %d is %v, outside float32's range", j, x)
		}
	}
	return nil
}

// float32Exponent masks a float32's exponent bits.
const float32Exponent = 0x7f800000
