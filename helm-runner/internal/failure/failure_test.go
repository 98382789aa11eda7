package failure

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil has no reason", nil, ""},
		{"a failure keeps its reason", New(ChartNotFound, "no chart %q", "x"), ChartNotFound},
		{"a wrapped failure keeps its reason", fmt.Errorf("pull: %w", New(AuthFailed, "denied")), AuthFailed},
		{"a deadline is a timeout", fmt.Errorf("wait: %w", context.DeadlineExceeded), Timeout},
		{"a cancellation is cancelled", context.Canceled, Cancelled},
		{"anything else is internal", errors.New("boom"), Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonOf(tt.err); got != tt.want {
				t.Fatalf("ReasonOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	cause := errors.New("connection refused")
	if got := Wrap(RepositoryUnreachable, cause, "fetch index of %s", "https://r").Error(); got != "fetch index of https://r: connection refused" {
		t.Fatalf("message with cause = %q", got)
	}
	if got := Wrap(RepositoryUnreachable, cause, "").Error(); got != "connection refused" {
		t.Fatalf("message of bare wrap = %q", got)
	}
	if !errors.Is(Wrap(Internal, cause, "x"), cause) {
		t.Fatal("Wrap must keep the cause for errors.Is")
	}
}
