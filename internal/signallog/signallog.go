// Package signallog silences go.mau.fi/libsignal's package-level logger.
// Its default logger is installed lazily without a lock (a data race when
// two goroutines sign or verify at once) and its debug lines may print key
// material to stdout. Importing this package installs a silent logger once,
// at init, before any goroutine can race on it.
package signallog

import "go.mau.fi/libsignal/logger"

type quiet struct{}

func (quiet) Debug(string, string)   {}
func (quiet) Info(string, string)    {}
func (quiet) Warning(string, string) {}
func (quiet) Error(string, string)   {}
func (quiet) Configure(string)       {}

func init() {
	var l logger.Loggable = quiet{}
	logger.Setup(&l)
}
