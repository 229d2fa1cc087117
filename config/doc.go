// Package config reads the process configuration from the environment.
//
// Each concern has a struct (Redis, OpenAI, Ollama, Log, Worker, Group,
// Resilience, Results, Dashboard) whose fields carry three tags: env names
// the variable, envDefault gives its default and help describes it in one
// line. A binary composes the parts it needs (WorkerEnv, EnqueueEnv,
// DashboardEnv), reads them with Load and prints them for --help with
// Usage:
//
//	cfg, err := config.Load[config.WorkerEnv]()
//	if err != nil {
//		return err // e.g. "OPENAI_MAX_CONNS: must not be negative (got -5)"
//	}
//
// Load parses every variable with github.com/caarlos0/env/v11 and then
// validates the result. A variable that is unset or set to the empty string
// takes its default, except where a field's documentation says that an
// explicitly empty value means something (HTTP_ADDR).
//
// Every failure, whether a value that does not parse or one that parses but
// cannot be used, is an *Error naming the variable. No error, log line or
// usage text ever contains a secret: OPENAI_API_KEY is never printed and
// URLs are shown with their passwords redacted, if at all.
package config
