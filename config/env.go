package config

// WorkerEnv is everything cmd/worker reads from the environment.
type WorkerEnv struct {
	Redis
	OpenAI
	Ollama
	Generation
	Worker
	Group
	Resilience
	Log
	Telemetry
}

// Validate reports the first unusable variable as an *Error.
func (c WorkerEnv) Validate() error {
	return firstError(c.Redis.Validate(), c.OpenAI.Validate(), c.Ollama.Validate(), c.Generation.Validate(), c.Worker.Validate(), c.Group.Validate(),
		c.Resilience.Validate(), c.Resilience.validateWith(c.Worker), c.Log.Validate(), c.Telemetry.Validate())
}

// EnqueueEnv is everything cmd/enqueue reads from the environment.
type EnqueueEnv struct {
	Redis
	Results
	Generation
	Log
	Telemetry
}

// Validate reports the first unusable variable as an *Error.
func (c EnqueueEnv) Validate() error {
	return firstError(c.Redis.Validate(), c.Results.Validate(), c.Generation.Validate(), c.Log.Validate(), c.Telemetry.Validate())
}

// DashboardEnv is everything cmd/dashboard reads from the environment.
type DashboardEnv struct {
	Redis
	Dashboard
	Log
}

// Validate reports the first unusable variable as an *Error.
func (c DashboardEnv) Validate() error {
	return firstError(c.Redis.Validate(), c.Dashboard.Validate(), c.Log.Validate())
}
