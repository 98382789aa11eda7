package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
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
	if err := validateRelease(ref); err != nil {
		return nil, toStatus(err)
	}
	clients, err := s.opts.Clients.For(identityOf(ref))
	if err != nil {
		return nil, toStatus(err)
	}
	cfg, err := action.NewConfig(clients, ref.GetNamespace(), s.opts.Log)
	if err != nil {
		return nil, toStatus(err)
	}
	state, history, err := action.GetReleaseState(ctx, cfg, ref.GetName(), int(req.GetHistoryLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &runnerv1.GetReleaseStateResponse{
		State: stateOf(state, s.locks.isHeld(releaseKey(ref.GetNamespace(), ref.GetName()))),
	}
	for _, h := range history {
		resp.History = append(resp.History, revisionOf(h))
	}
	return resp, nil
}

// Install pulls the chart and installs it as a new release.
func (s *Server) Install(ctx context.Context, req *runnerv1.InstallRequest) (*runnerv1.InstallResponse, error) {
	timeout, values, err := s.changeInputs(req.GetTimeout(), req.GetConfigDigest(), req.GetValues())
	if err != nil {
		return nil, toStatus(err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "install", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	ch, err := s.pull(op.ctx, req.GetChart())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := action.Install(op.ctx, cfg, action.InstallRequest{
		Name: req.GetRelease().GetName(), Chart: ch, Values: values, Wait: req.GetWait(), Atomic: req.GetAtomic(),
		Timeout: timeout, CreateNamespace: req.GetCreateNamespace(), DisableHooks: req.GetDisableHooks(),
		ServerSideApply: req.ServerSideApply, ConfigDigest: req.GetConfigDigest(), Description: req.GetDescription(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.InstallResponse{Outcome: outcomeOf(errOf(res), res.Remediated), Writes: writesOf(res.Writes), State: stateOf(res.State, false)}, nil
}

// Upgrade pulls the chart and upgrades an existing release.
func (s *Server) Upgrade(ctx context.Context, req *runnerv1.UpgradeRequest) (*runnerv1.UpgradeResponse, error) {
	timeout, values, err := s.changeInputs(req.GetTimeout(), req.GetConfigDigest(), req.GetValues())
	if err != nil {
		return nil, toStatus(err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "upgrade", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	ch, err := s.pull(op.ctx, req.GetChart())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := action.Upgrade(op.ctx, cfg, action.UpgradeRequest{
		Name: req.GetRelease().GetName(), Chart: ch, Values: values, Wait: req.GetWait(), Atomic: req.GetAtomic(),
		Timeout: timeout, MaxHistory: int(req.GetMaxHistory()), DisableHooks: req.GetDisableHooks(),
		ServerSideApply: req.ServerSideApply, CleanupOnFail: req.GetCleanupOnFail(), ForceConflicts: req.GetForceConflicts(),
		ConfigDigest: req.GetConfigDigest(), Description: req.GetDescription(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.UpgradeResponse{Outcome: outcomeOf(errOf(res), res.Remediated), Writes: writesOf(res.Writes), State: stateOf(res.State, false)}, nil
}

// Rollback makes a new revision from an earlier one.
func (s *Server) Rollback(ctx context.Context, req *runnerv1.RollbackRequest) (*runnerv1.RollbackResponse, error) {
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "rollback", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	res, err := action.Rollback(op.ctx, cfg, action.RollbackRequest{
		Name: req.GetRelease().GetName(), Revision: int(req.GetRevision()), Wait: req.GetWait(), Timeout: timeout,
		MaxHistory: int(req.GetMaxHistory()), DisableHooks: req.GetDisableHooks(),
		ServerSideApply: req.ServerSideApply, CleanupOnFail: req.GetCleanupOnFail(), ForceConflicts: req.GetForceConflicts(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.RollbackResponse{Outcome: outcomeOf(errOf(res), res.Remediated), Writes: writesOf(res.Writes), State: stateOf(res.State, false)}, nil
}

// Uninstall removes the release (or marks it uninstalled, keeping history).
func (s *Server) Uninstall(ctx context.Context, req *runnerv1.UninstallRequest) (*runnerv1.UninstallResponse, error) {
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "uninstall", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	res, err := action.Uninstall(op.ctx, cfg, action.UninstallRequest{
		Name: req.GetRelease().GetName(), Wait: req.GetWait(), Timeout: timeout,
		KeepHistory: req.GetKeepHistory(), DisableHooks: req.GetDisableHooks(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.UninstallResponse{Outcome: outcomeOf(errOf(res), res.Remediated), Writes: writesOf(res.Writes), State: stateOf(res.State, false)}, nil
}

// Test runs the chart's test hooks against the latest revision.
func (s *Server) Test(ctx context.Context, req *runnerv1.TestRequest) (*runnerv1.TestResponse, error) {
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "test", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	res, err := action.Test(op.ctx, cfg, action.TestRequest{Name: req.GetRelease().GetName(), Timeout: timeout})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.TestResponse{Outcome: outcomeOf(errOf(res), false), Writes: writesOf(res.Writes), Results: testResultsOf(res.Tests)}, nil
}

// Unlock marks a release left pending by a dead process as failed. It takes the release's lock
// like any operation, so it fails with RELEASE_LOCKED while this runner operates on the release.
func (s *Server) Unlock(ctx context.Context, req *runnerv1.UnlockRequest) (*runnerv1.UnlockResponse, error) {
	if req.GetRevision() <= 0 {
		return nil, toStatus(failure.New(failure.InvalidArgument, "revision is required: the pending revision to unlock, got %d", req.GetRevision()))
	}
	op, cfg, err := s.beginWithConfig(ctx, "unlock", req.GetRelease())
	if err != nil {
		return nil, toStatus(err)
	}
	defer op.done()
	res, err := action.Unlock(op.ctx, cfg, action.UnlockRequest{Name: req.GetRelease().GetName(), Revision: int(req.GetRevision())})
	if err != nil {
		return nil, toStatus(err)
	}
	op.logOutcome(res)
	return &runnerv1.UnlockResponse{Outcome: outcomeOf(errOf(res), false), Writes: writesOf(res.Writes), State: stateOf(res.State, false)}, nil
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

// beginWithConfig begins an operation and builds its Helm configuration; on error nothing is
// held.
func (s *Server) beginWithConfig(ctx context.Context, verb string, ref *runnerv1.ReleaseRef) (*operation, *action.Config, error) {
	op, err := s.begin(ctx, verb, ref)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := action.NewConfig(op.clients, ref.GetNamespace(), op.log)
	if err != nil {
		op.done()
		return nil, nil, err
	}
	return op, cfg, nil
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
