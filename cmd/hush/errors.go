package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// Exit codes.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitNeedInput = 3 // the command needs more input, e.g. a code was sent
	// exitUndecryptable: receive got messages it could not decrypt (their
	// senders were asked to send them again).
	exitUndecryptable = 4
)

// codedError carries the exit code an error should end the process with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &codedError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func needInputf(format string, args ...any) error {
	return &codedError{code: exitNeedInput, err: fmt.Errorf(format, args...)}
}

// errHelpShown ends a command whose -h printed the usage: exit 0, silently.
var errHelpShown = errors.New("help shown")

// report prints err, if any, as one line on w and returns the exit code.
func report(w io.Writer, err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	code := exitError
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	msg := describe(err)
	if code == exitUsage {
		msg += " (run \"hush help\" for usage)"
	}
	fmt.Fprintln(w, "hush: "+oneLine(msg))
	return code
}

// describe words an error for people; errors from the server get a hint
// where one helps.
func describe(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, store.ErrNoAccount), errors.Is(err, store.ErrHasAccount):
		return err.Error()
	case client.IsCode(err, api.CodeUnauthorized):
		return err.Error() + " (this device's credential is not valid: was it removed or the number re-registered?)"
	case client.IsCode(err, api.CodeRateLimited):
		var ae *client.APIError
		errors.As(err, &ae)
		return fmt.Sprintf("%v (retry in %d s)", err, ae.Body.RetryAfter)
	}
	return err.Error()
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
