package config

import "time"

// Results configures what producers ask the queue to keep of finished tasks.
type Results struct {
	// Retention is how long a finished task, with the result its handler
	// wrote, stays in Redis before it is deleted. Results cost Redis memory
	// for that long. Default 24h.
	Retention time.Duration `env:"RESULT_RETENTION" envDefault:"24h" help:"how long finished task results stay in Redis"`
}

// Validate reports an unusable Retention as an *Error.
func (c Results) Validate() error {
	return checkPositive("RESULT_RETENTION", c.Retention)
}
