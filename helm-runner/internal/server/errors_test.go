package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
	}{
		{"chart not found is NOT_FOUND", failure.New(failure.ChartNotFound, "no chart"), codes.NotFound, "CHART_NOT_FOUND"},
		{"a range version is INVALID_ARGUMENT", failure.New(failure.InvalidVersion, "range"), codes.InvalidArgument, "INVALID_VERSION"},
		{"a held release is FAILED_PRECONDITION", failure.New(failure.ReleaseLocked, "busy"), codes.FailedPrecondition, "RELEASE_LOCKED"},
		{"unreachable repository is UNAVAILABLE", failure.New(failure.RepositoryUnreachable, "refused"), codes.Unavailable, "REPOSITORY_UNREACHABLE"},
		{"a wrapped failure keeps its reason", fmt.Errorf("x: %w", failure.New(failure.AuthFailed, "401")), codes.FailedPrecondition, "AUTH_FAILED"},
		{"a deadline is DEADLINE_EXCEEDED", context.DeadlineExceeded, codes.DeadlineExceeded, "TIMEOUT"},
		{"an unknown error is INTERNAL", errors.New("boom"), codes.Internal, "INTERNAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := status.FromError(toStatus(nil, tt.err))
			if !ok {
				t.Fatal("not a status error")
			}
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.Reason != tt.wantReason || info.Domain != ErrorDomain {
				t.Fatalf("ErrorInfo = %v, want reason %s in %s", info, tt.wantReason, ErrorDomain)
			}
		})
	}
}

func TestEveryReasonIsInTheContract(t *testing.T) {
	for _, r := range []failure.Reason{
		failure.ChartNotFound, failure.VersionNotFound, failure.RepositoryUnreachable, failure.AuthFailed,
		failure.InvalidValues, failure.SchemaValidationFailed, failure.ReleaseLocked, failure.ReleaseNotFound,
		failure.ReleaseExists, failure.RevisionNotFound, failure.Timeout, failure.InvalidArgument,
		failure.InvalidVersion, failure.InsecureRepository, failure.ChartTooLarge, failure.InvalidChart,
		failure.RenderFailed, failure.KubernetesAPIError, failure.Forbidden, failure.Conflict, failure.HookFailed,
		failure.TestFailed, failure.ReleaseTooLarge, failure.Cancelled, failure.Internal, failure.PreconditionFailed,
		failure.ReleaseOwnedByOther,
	} {
		if got := protoReason(r); got.String() != "ERROR_REASON_"+string(r) {
			t.Errorf("reason %s maps to %v", r, got)
		}
	}
	if protoReason("NOT_A_REASON") != runnerv1.ErrorReason_ERROR_REASON_INTERNAL {
		t.Error("an unknown reason must map to INTERNAL")
	}
}

func TestOutcomeOf(t *testing.T) {
	if o := outcomeOf(nil, nil, false); !o.Succeeded || o.FailureReason != runnerv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Fatalf("success outcome = %v", o)
	}
	o := outcomeOf(nil, failure.New(failure.HookFailed, "pre-install hook failed"), true)
	if o.Succeeded || o.FailureReason != runnerv1.ErrorReason_ERROR_REASON_HOOK_FAILED || !o.Remediated || o.Message == "" {
		t.Fatalf("failure outcome = %v", o)
	}
}
