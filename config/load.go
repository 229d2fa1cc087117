package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Struct tags read by Load and Usage, besides caarlos0/env's env and
// envDefault.
const (
	// tagHelp holds a variable's one-line description.
	tagHelp = "help"
	// tagSecret marks a variable whose value is never printed.
	tagSecret = "secret"
	// tagKeepEmpty marks a string variable that keeps an explicitly empty
	// value instead of taking its default.
	tagKeepEmpty = "keepEmpty"
)

// Load reads T from the process environment. See LoadFrom.
func Load[T any]() (T, error) {
	return LoadFrom[T](environ(os.Environ()))
}

// LoadFrom reads T from environ, a map from variable names to values, in
// place of the process environment; it exists for tests.
//
// T is one of this package's configuration structs or a struct made of
// them (WorkerEnv, EnqueueEnv). A variable missing from environ, or present
// with an empty value, takes its default. Once every variable has parsed,
// LoadFrom validates the result with the Validate methods of T's parts.
// On failure it returns the zero T and an *Error naming the first variable
// that did not parse or did not validate.
func LoadFrom[T any](environ map[string]string) (T, error) {
	var cfg, zero T
	v := reflect.ValueOf(&cfg).Elem()
	if v.Kind() != reflect.Struct {
		return zero, fmt.Errorf("config: load %T: not a struct", cfg)
	}
	if environ == nil {
		environ = map[string]string{} // caarlos0/env reads os.Environ for a nil map
	}
	if err := parse(v, environ); err != nil {
		return zero, err
	}
	if err := validate(v); err != nil {
		return zero, err
	}
	return cfg, nil
}

func environ(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// parse fills v from environ. A struct that declares variables itself is
// handed to caarlos0/env as a whole; a struct that only groups others (such
// as WorkerEnv) is walked, so that each parse error is reported against the
// one struct it came from and its field name maps to a single variable
// (OpenAI and Ollama both have a MaxConns field).
func parse(v reflect.Value, environ map[string]string) error {
	t := v.Type()
	if !declaresVars(t) {
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && f.Type.Kind() == reflect.Struct {
				if err := parse(v.Field(i), environ); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := env.ParseWithOptions(v.Addr().Interface(), env.Options{Environment: withClientDefaults(t, environ)}); err != nil {
		return parseError(t, environ, err)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name := varName(f)
		if name == "" || f.Tag.Get(tagKeepEmpty) != "true" || f.Type.Kind() != reflect.String {
			continue
		}
		if val, set := environ[name]; set && val == "" {
			v.Field(i).SetString("")
		}
	}
	return nil
}

// declaresVars reports whether t has a field with an env tag of its own.
func declaresVars(t reflect.Type) bool {
	for i := range t.NumField() {
		if varName(t.Field(i)) != "" {
			return true
		}
	}
	return false
}

// varName is the environment variable of f, or "" if it has none.
func varName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// defaultOf returns the default of f's variable: its envDefault tag, or
// else the default the client it configures defines (clientDefaults).
func defaultOf(f reflect.StructField) (string, bool) {
	if def, ok := f.Tag.Lookup("envDefault"); ok {
		return def, true
	}
	def, ok := clientDefaults[varName(f)]
	return def, ok
}

// withClientDefaults returns environ with the clientDefaults of t's
// variables filled in where environ has no value, for caarlos0/env to read
// as it reads envDefault.
func withClientDefaults(t reflect.Type, environ map[string]string) map[string]string {
	out, cloned := environ, false
	for i := range t.NumField() {
		f := t.Field(i)
		name := varName(f)
		def, ok := clientDefaults[name]
		if _, tagged := f.Tag.Lookup("envDefault"); !ok || tagged || environ[name] != "" {
			continue
		}
		if !cloned {
			out, cloned = maps.Clone(environ), true // the caller's map stays as it was
		}
		out[name] = def
	}
	return out
}

// parseError turns caarlos0/env's error for struct t into an *Error for the
// first variable that failed.
func parseError(t reflect.Type, environ map[string]string, err error) error {
	errs := []error{err}
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	for _, e := range errs {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			continue
		}
		f, ok := t.FieldByName(pe.Name)
		if !ok || varName(f) == "" {
			continue
		}
		name := varName(f)
		raw := environ[name]
		if raw == "" {
			raw, _ = defaultOf(f)
		}
		return errorf(name, parseProblem(f, raw, pe.Err))
	}
	return fmt.Errorf("config: %w", err)
}

var durationType = reflect.TypeFor[time.Duration]()

func parseProblem(f reflect.StructField, raw string, err error) string {
	got := fmt.Sprintf(" (got %q)", raw)
	if f.Tag.Get(tagSecret) == "true" {
		got = ""
	}
	if errors.Is(err, strconv.ErrRange) {
		return "out of range" + got
	}
	switch k := f.Type.Kind(); {
	case f.Type == durationType:
		return "must be a duration such as 30s, 1m30s or 2h" + got
	case k >= reflect.Int && k <= reflect.Int64:
		return "must be an integer" + got
	case k >= reflect.Uint && k <= reflect.Uintptr:
		return "must be a non-negative integer" + got
	case k == reflect.Float32 || k == reflect.Float64:
		return "must be a number" + got
	case k == reflect.Bool:
		return "must be true or false" + got
	}
	return "cannot be parsed as " + f.Type.String() + got
}

type validator interface{ Validate() error }

// validate calls the Validate method of v, or else of each of its parts.
func validate(v reflect.Value) error {
	if c, ok := v.Addr().Interface().(validator); ok {
		return c.Validate()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			if err := validate(v.Field(i)); err != nil {
				return err
			}
		}
	}
	return nil
}
