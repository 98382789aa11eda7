package server

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
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
		failure.InvalidChart, failure.RenderFailed, failure.RenderLimitExceeded, failure.ReleaseTooLarge, failure.PreconditionFailed,
		failure.HookFailed, failure.TestFailed, failure.ReleaseOwnedByOther:
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
// a google.rpc.ErrorInfo carrying the reason, with the call's secrets removed from its message
// and from the ErrorInfo's metadata.
func toStatus(secrets *redact.Secrets, err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && !isFailure(err) {
		return scrubStatus(secrets, st)
	}
	reason := failure.ReasonOf(err)
	return withDetails(status.New(codeOf(reason), secrets.String(err.Error())),
		&errdetails.ErrorInfo{Reason: string(reason), Domain: ErrorDomain})
}

// scrubStatus returns st with secrets removed from its message and its ErrorInfo details. With
// secrets, details of other types (the runner sends none) are dropped: they cannot be scrubbed.
func scrubStatus(secrets *redact.Secrets, st *status.Status) error {
	if secrets == nil {
		return st.Err()
	}
	var infos []protoadapt.MessageV1
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		scrubbed := &errdetails.ErrorInfo{Reason: info.GetReason(), Domain: info.GetDomain()}
		for k, v := range info.GetMetadata() {
			if scrubbed.Metadata == nil {
				scrubbed.Metadata = map[string]string{}
			}
			scrubbed.Metadata[k] = secrets.String(v)
		}
		infos = append(infos, scrubbed)
	}
	return withDetails(status.New(st.Code(), secrets.String(st.Message())), infos...)
}

func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	if len(details) == 0 {
		return st.Err()
	}
	withInfo, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return withInfo.Err()
}

func isFailure(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe)
}

// outcomeOf describes how an operation that wrote release storage ended, with the call's
// secrets removed from the message.
func outcomeOf(secrets *redact.Secrets, err error, remediated bool) *runnerv1.Outcome {
	if err == nil {
		return &runnerv1.Outcome{Succeeded: true}
	}
	return &runnerv1.Outcome{
		Succeeded:     false,
		FailureReason: protoReason(failure.ReasonOf(err)),
		Message:       secrets.String(err.Error()),
		Remediated:    remediated,
	}
}
