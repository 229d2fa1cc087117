package config

// Error is a configuration value that cannot be used. Var names the
// environment variable and Problem says what is wrong with it, without
// repeating a secret the value may hold.
type Error struct {
	Var     string
	Problem string
}

// Error returns "VAR: problem".
func (e *Error) Error() string {
	return e.Var + ": " + e.Problem
}

func errorf(name, problem string) *Error {
	return &Error{Var: name, Problem: problem}
}
