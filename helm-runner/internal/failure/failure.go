// Package failure carries the machine-readable reason of every error the runner returns.
//
// Packages below the server wrap their errors in *Error with a Reason; the server maps the
// Reason to a gRPC status code and a google.rpc.ErrorInfo (server/errors.go), or to an Outcome
// when release storage had been written. Reasons are the names of the ErrorReason values of
// proto/planton/helmrunner/v1/runner.proto without their ERROR_REASON_ prefix.
package failure

import (
	"context"
	"errors"
	"fmt"
)

// Reason is a machine-readable failure reason.
type Reason string

// Reasons, one per ErrorReason value of the runner contract.
const (
	ChartNotFound          Reason = "CHART_NOT_FOUND"
	VersionNotFound        Reason = "VERSION_NOT_FOUND"
	RepositoryUnreachable  Reason = "REPOSITORY_UNREACHABLE"
	AuthFailed             Reason = "AUTH_FAILED"
	InvalidValues          Reason = "INVALID_VALUES"
	SchemaValidationFailed Reason = "SCHEMA_VALIDATION_FAILED"
	ReleaseLocked          Reason = "RELEASE_LOCKED"
	ReleaseNotFound        Reason = "RELEASE_NOT_FOUND"
	ReleaseExists          Reason = "RELEASE_EXISTS"
	RevisionNotFound       Reason = "REVISION_NOT_FOUND"
	Timeout                Reason = "TIMEOUT"
	InvalidArgument        Reason = "INVALID_ARGUMENT"
	InvalidVersion         Reason = "INVALID_VERSION"
	InsecureRepository     Reason = "INSECURE_REPOSITORY"
	ChartTooLarge          Reason = "CHART_TOO_LARGE"
	InvalidChart           Reason = "INVALID_CHART"
	RenderFailed           Reason = "RENDER_FAILED"
	RenderLimitExceeded    Reason = "RENDER_LIMIT_EXCEEDED"
	KubernetesAPIError     Reason = "KUBERNETES_API_ERROR"
	Forbidden              Reason = "FORBIDDEN"
	Conflict               Reason = "CONFLICT"
	HookFailed             Reason = "HOOK_FAILED"
	TestFailed             Reason = "TEST_FAILED"
	ReleaseTooLarge        Reason = "RELEASE_TOO_LARGE"
	Cancelled              Reason = "CANCELLED"
	Internal               Reason = "INTERNAL"
	PreconditionFailed     Reason = "PRECONDITION_FAILED"
	ReleaseOwnedByOther    Reason = "RELEASE_OWNED_BY_OTHER"
)

// Error is a failure with a reason. Message is safe to show to users: it never contains values
// or credentials.
type Error struct {
	Reason  Reason
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error that keeps err as its cause. The message may be empty, then err's text
// is the message.
func Wrap(reason Reason, err error, format string, args ...any) *Error {
	msg := ""
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Reason: reason, Message: msg, Err: err}
}

// ReasonOf returns the reason of err: the outermost *Error's reason; TIMEOUT or CANCELLED for
// context errors; INTERNAL for anything else. A nil error has no reason ("").
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Cancelled
	}
	return Internal
}
