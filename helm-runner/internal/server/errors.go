package server

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every runner error.
const ErrorDomain = "helm-runner.helm.project-planton.org"

// codeOf is the one place that maps a failure reason to a gRPC status code (as documented on
// ErrorReason in runner.proto).
func codeOf(reason failure.Reason) codes.Code {
	switch reason {
	case failure.ChartNotFound, failure.VersionNotFound, failure.ReleaseNotFound, failure.RevisionNotFound:
		return codes.NotFound
	case failure.RepositoryUnreachable:
		return codes.Unavailable
	case failure.InvalidValues, failure.SchemaValidationFailed, failure.InvalidArgument, failure.InvalidVersion:
		return codes.InvalidArgument
	case failure.AuthFailed, failure.ReleaseLocked, failure.InsecureRepository, failure.ChartTooLarge,
		failure.InvalidChart, failure.RenderFailed, failure.ReleaseTooLarge, failure.PreconditionFailed,
		failure.HookFailed, failure.TestFailed:
		return codes.FailedPrecondition
	case failure.ReleaseExists:
		return codes.AlreadyExists
	case failure.Timeout:
		return codes.DeadlineExceeded
	case failure.Cancelled:
		return codes.Canceled
	case failure.Forbidden:
		return codes.PermissionDenied
	case failure.Conflict:
		return codes.Aborted
	case failure.KubernetesAPIError:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// protoReason converts a failure reason to the contract's enum.
func protoReason(reason failure.Reason) runnerv1.ErrorReason {
	if v, ok := runnerv1.ErrorReason_value["ERROR_REASON_"+string(reason)]; ok {
		return runnerv1.ErrorReason(v)
	}
	return runnerv1.ErrorReason_ERROR_REASON_INTERNAL
}

// toStatus turns an error returned before anything was written into a gRPC status error with
// a google.rpc.ErrorInfo carrying the reason.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isFailure(err) {
		return err
	}
	reason := failure.ReasonOf(err)
	st := status.New(codeOf(reason), err.Error())
	withInfo, detailErr := st.WithDetails(&errdetails.ErrorInfo{Reason: string(reason), Domain: ErrorDomain})
	if detailErr != nil {
		return st.Err()
	}
	return withInfo.Err()
}

func isFailure(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe)
}

// outcomeOf describes how an operation that wrote release storage ended.
func outcomeOf(err error, remediated bool) *runnerv1.Outcome {
	if err == nil {
		return &runnerv1.Outcome{Succeeded: true}
	}
	return &runnerv1.Outcome{
		Succeeded:     false,
		FailureReason: protoReason(failure.ReasonOf(err)),
		Message:       err.Error(),
		Remediated:    remediated,
	}
}
