package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// errOf returns a Result's failure as an error, nil when there is none (a nil *failure.Error in
// an error interface would not be nil).
func errOf(r action.Result) error {
	if r.Err == nil {
		return nil
	}
	return r.Err
}

// GetReleaseState reads the latest revision (and, on request, the history) of a release.
func (s *Server) GetReleaseState(ctx context.Context, req *runnerv1.GetReleaseStateRequest) (*runnerv1.GetReleaseStateResponse, error) {
	ref := req.GetRelease()
	secrets := secretsOf(ref)
	_, cfg, release, err := s.readConfig(ctx, "state", ref, secrets)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	defer release()
	state, history, err := action.GetReleaseState(ctx, cfg, ref.GetName(), int(req.GetHistoryLimit()))
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	resp := &runnerv1.GetReleaseStateResponse{
		State: stateOf(secrets, state, s.locks.isHeld(releaseKey(ref.GetNamespace(), ref.GetName()))),
	}
	for _, h := range history {
		resp.History = append(resp.History, revisionOf(secrets, h))
	}
	return resp, nil
}

// Install pulls the chart and installs it as a new release.
func (s *Server) Install(ctx context.Context, req *runnerv1.InstallRequest) (*runnerv1.InstallResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, values, err := s.changeInputs(req.GetTimeout(), req.GetConfigDigest(), req.GetValues())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	m, err := s.mutate(ctx, "install", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		ch, err := s.pull(op.ctx, req.GetChart())
		if err != nil {
			return action.Result{}, err
		}
		return action.Install(op.ctx, cfg, action.InstallRequest{
			Name: req.GetRelease().GetName(), Chart: ch, Values: values, Wait: req.GetWait(), Atomic: req.GetAtomic(),
			Timeout: timeout, CreateNamespace: req.GetCreateNamespace(), DisableHooks: req.GetDisableHooks(),
			ServerSideApply: req.ServerSideApply, ConfigDigest: req.GetConfigDigest(), Description: req.GetDescription(),
			Owner: ownerOf(req.GetRelease()),
		})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.InstallResponse{Outcome: m.outcome, Writes: m.writes, State: m.state}, nil
}

// Upgrade pulls the chart and upgrades an existing release.
func (s *Server) Upgrade(ctx context.Context, req *runnerv1.UpgradeRequest) (*runnerv1.UpgradeResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, values, err := s.changeInputs(req.GetTimeout(), req.GetConfigDigest(), req.GetValues())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	m, err := s.mutate(ctx, "upgrade", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		ch, err := s.pull(op.ctx, req.GetChart())
		if err != nil {
			return action.Result{}, err
		}
		return action.Upgrade(op.ctx, cfg, action.UpgradeRequest{
			Name: req.GetRelease().GetName(), Chart: ch, Values: values, Wait: req.GetWait(), Atomic: req.GetAtomic(),
			Timeout: timeout, MaxHistory: int(req.GetMaxHistory()), DisableHooks: req.GetDisableHooks(),
			ServerSideApply: req.ServerSideApply, CleanupOnFail: req.GetCleanupOnFail(), ForceConflicts: req.GetForceConflicts(),
			ConfigDigest: req.GetConfigDigest(), Description: req.GetDescription(), Owner: ownerOf(req.GetRelease()),
		})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.UpgradeResponse{Outcome: m.outcome, Writes: m.writes, State: m.state}, nil
}

// Rollback makes a new revision from an earlier one.
func (s *Server) Rollback(ctx context.Context, req *runnerv1.RollbackRequest) (*runnerv1.RollbackResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	m, err := s.mutate(ctx, "rollback", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		return action.Rollback(op.ctx, cfg, action.RollbackRequest{
			Name: req.GetRelease().GetName(), Revision: int(req.GetRevision()), Wait: req.GetWait(), Timeout: timeout,
			MaxHistory: int(req.GetMaxHistory()), DisableHooks: req.GetDisableHooks(),
			ServerSideApply: req.ServerSideApply, CleanupOnFail: req.GetCleanupOnFail(), ForceConflicts: req.GetForceConflicts(),
			Owner: ownerOf(req.GetRelease()),
		})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.RollbackResponse{Outcome: m.outcome, Writes: m.writes, State: m.state}, nil
}

// Uninstall removes the release (or marks it uninstalled, keeping history).
func (s *Server) Uninstall(ctx context.Context, req *runnerv1.UninstallRequest) (*runnerv1.UninstallResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	m, err := s.mutate(ctx, "uninstall", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		return action.Uninstall(op.ctx, cfg, action.UninstallRequest{
			Name: req.GetRelease().GetName(), Wait: req.GetWait(), Timeout: timeout,
			KeepHistory: req.GetKeepHistory(), DisableHooks: req.GetDisableHooks(),
		})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.UninstallResponse{Outcome: m.outcome, Writes: m.writes, State: m.state}, nil
}

// Test runs the chart's test hooks against the latest revision.
func (s *Server) Test(ctx context.Context, req *runnerv1.TestRequest) (*runnerv1.TestResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	m, err := s.mutate(ctx, "test", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		return action.Test(op.ctx, cfg, action.TestRequest{Name: req.GetRelease().GetName(), Timeout: timeout})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.TestResponse{Outcome: m.outcome, Writes: m.writes, Results: m.tests}, nil
}

// Unlock marks a release left pending by a dead process as failed. It takes the release's lock
// like any operation, so it fails with RELEASE_LOCKED while this runner operates on the release.
func (s *Server) Unlock(ctx context.Context, req *runnerv1.UnlockRequest) (*runnerv1.UnlockResponse, error) {
	secrets := secretsOf(req.GetRelease())
	if req.GetRevision() <= 0 {
		return nil, toStatus(secrets, failure.New(failure.InvalidArgument, "revision is required: the pending revision to unlock, got %d", req.GetRevision()))
	}
	m, err := s.mutate(ctx, "unlock", req.GetRelease(), secrets, func(op *operation, cfg *action.Config) (action.Result, error) {
		return action.Unlock(op.ctx, cfg, action.UnlockRequest{Name: req.GetRelease().GetName(), Revision: int(req.GetRevision())})
	})
	if err != nil {
		return nil, err
	}
	return &runnerv1.UnlockResponse{Outcome: m.outcome, Writes: m.writes, State: m.state}, nil
}

// mutation is how an operation that may write release storage ended, in the contract's terms.
type mutation struct {
	outcome *runnerv1.Outcome
	writes  []*runnerv1.ReleaseWrite
	state   *runnerv1.ReleaseState
	tests   []*runnerv1.TestHookResult
}

// mutate runs one storage-writing operation under the release's lock: begin (the ownership
// check included), run, log the outcome, convert with secrets removed. An error from run
// (nothing was written) comes back as a gRPC status error.
func (s *Server) mutate(ctx context.Context, verb string, ref *runnerv1.ReleaseRef, secrets *redact.Secrets,
	run func(op *operation, cfg *action.Config) (action.Result, error)) (mutation, error) {
	op, cfg, err := s.beginWithConfig(ctx, verb, ref, secrets)
	if err != nil {
		return mutation{}, toStatus(secrets, err)
	}
	defer op.done()
	res, err := run(op, cfg)
	if err != nil {
		op.logNothingWritten(err)
		return mutation{}, toStatus(secrets, err)
	}
	op.logOutcome(res)
	return mutation{
		outcome: outcomeOf(secrets, errOf(res), res.Remediated),
		writes:  writesOf(res.Writes),
		state:   stateOf(secrets, res.State, false),
		tests:   testResultsOf(secrets, res.Tests),
	}, nil
}

// changeInputs validates what an install or upgrade is given before anything else happens.
func (s *Server) changeInputs(t *durationpb.Duration, configDigest string, v *structpb.Struct) (time.Duration, map[string]any, error) {
	timeout, err := validateTimeout(t)
	if err != nil {
		return 0, nil, err
	}
	if err := validateConfigDigest(configDigest); err != nil {
		return 0, nil, err
	}
	values, err := valuesOf(v, s.opts.MaxValuesBytes)
	return timeout, values, err
}

// beginWithConfig begins an operation, builds its Helm configuration and, when the call names
// an owner, refuses (RELEASE_OWNED_BY_OTHER) a release whose latest revision records another:
// under the release's lock, before anything is pulled or written. On error nothing is held.
func (s *Server) beginWithConfig(ctx context.Context, verb string, ref *runnerv1.ReleaseRef, secrets *redact.Secrets) (*operation, *action.Config, error) {
	op, err := s.begin(ctx, verb, ref, secrets)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.opts.HelmConfig(op.clients, ref.GetNamespace(), op.log)
	if err != nil {
		op.done()
		return nil, nil, err
	}
	if err := action.CheckOwner(op.ctx, cfg, ref.GetName(), ownerOf(ref)); err != nil {
		op.logNothingWritten(err)
		op.done()
		return nil, nil, err
	}
	return op, cfg, nil
}

// logNothingWritten logs why an operation ended before writing anything.
func (op *operation) logNothingWritten(err error) {
	op.log.Info("operation failed, nothing written", "reason", string(failure.ReasonOf(err)), "error", err.Error())
}

// logOutcome logs how an operation that wrote storage ended: reason and revision, never values.
func (op *operation) logOutcome(res action.Result) {
	if res.Err != nil {
		op.log.Warn("operation failed", "reason", string(res.Err.Reason), "revision", res.State.Revision,
			"writes", len(res.Writes), "remediated", res.Remediated, "error", res.Err.Error())
		return
	}
	op.log.Info("operation succeeded", "revision", res.State.Revision, "writes", len(res.Writes))
}
