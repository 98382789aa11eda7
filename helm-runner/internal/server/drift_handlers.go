package server

import (
	"context"

	rspb "helm.sh/helm/v4/pkg/release/v1"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/drift"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// Diff renders the chart as the next install or upgrade would and compares every object with
// the cluster. It takes no lock and writes nothing.
func (s *Server) Diff(ctx context.Context, req *runnerv1.DiffRequest) (*runnerv1.DiffResponse, error) {
	ref := req.GetRelease()
	secrets := secretsOf(ref)
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	values, err := valuesOf(req.GetValues(), s.opts.MaxValuesBytes)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	clients, cfg, release, err := s.readConfig(ctx, "diff", ref, secrets)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	defer release()
	ch, err := s.pull(ctx, req.GetChart())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	rendered, err := action.Render(ctx, cfg, ref.GetName(), ch, values)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	diffs, err := drift.Diff(ctx, clients, releaseOf(ref), rendered.Manifest, rendered.Current)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	return &runnerv1.DiffResponse{Install: rendered.Install, Objects: objectDiffsOf(secrets, diffs)}, nil
}

// DetectDrift compares the latest revision's objects with the cluster. It takes no lock and
// writes nothing.
func (s *Server) DetectDrift(ctx context.Context, req *runnerv1.DetectDriftRequest) (*runnerv1.DetectDriftResponse, error) {
	ref := req.GetRelease()
	secrets := secretsOf(ref)
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	clients, cfg, release, err := s.readConfig(ctx, "detect-drift", ref, secrets)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	defer release()
	rel, err := deployedRelease(ctx, cfg, ref.GetName(), false)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	report, err := drift.Detect(ctx, clients, releaseOf(ref), rel.Manifest, ignoreRulesOf(req.GetIgnore()))
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	return &runnerv1.DetectDriftResponse{
		Revision:       int32(rel.Version),
		ObjectsChecked: int32(report.ObjectsChecked),
		Objects:        objectDiffsOf(secrets, report.Drifted),
	}, nil
}

// CorrectDrift re-applies the drifted objects of the latest revision. It holds the release's
// lock (it writes to the cluster) but makes no revision. Like every writing call it refuses a
// release owned by another HelmRelease (beginWithConfig) before reading or applying anything.
func (s *Server) CorrectDrift(ctx context.Context, req *runnerv1.CorrectDriftRequest) (*runnerv1.CorrectDriftResponse, error) {
	secrets := secretsOf(req.GetRelease())
	timeout, err := validateTimeout(req.GetTimeout())
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	op, cfg, err := s.beginWithConfig(ctx, "correct-drift", req.GetRelease(), secrets)
	if err != nil {
		return nil, toStatus(secrets, err)
	}
	defer op.done()
	opCtx, cancel := context.WithTimeout(op.ctx, timeout)
	defer cancel()
	rel, err := deployedRelease(opCtx, cfg, req.GetRelease().GetName(), true)
	if err != nil {
		op.logNothingWritten(err)
		return nil, toStatus(secrets, err)
	}
	report, err := drift.Correct(opCtx, op.clients, releaseOf(req.GetRelease()), rel.Manifest,
		ignoreRulesOf(req.GetIgnore()), req.GetForceConflicts())
	if err != nil {
		op.logNothingWritten(err)
		return nil, toStatus(secrets, err)
	}
	resp := &runnerv1.CorrectDriftResponse{Revision: int32(rel.Version), Outcome: outcomeOf(secrets, nil, false)}
	var firstErr error
	for _, o := range report.Objects {
		c := &runnerv1.CorrectedObject{Drift: objectDiffOf(secrets, o.Drift), Corrected: o.Corrected}
		if o.Err != nil {
			c.Error = secrets.String(o.Err.Error())
			if firstErr == nil {
				firstErr = o.Err
			}
		}
		resp.Objects = append(resp.Objects, c)
	}
	if firstErr != nil {
		resp.Outcome = outcomeOf(secrets, firstErr, false)
	}
	op.log.Info("drift corrected", "revision", rel.Version, "objects", len(report.Objects), "all", report.AllCorrected())
	return resp, nil
}

// readConfig returns the clients and a Helm configuration for a read-only call, whose logs go to
// the call's logger. The clients are held until the caller calls release.
func (s *Server) readConfig(ctx context.Context, verb string, ref *runnerv1.ReleaseRef, secrets *redact.Secrets) (*kube.Clients, *action.Config, func(), error) {
	if err := validateRelease(ref); err != nil {
		return nil, nil, nil, err
	}
	clients, release, err := s.opts.Clients.Acquire(identityOf(ref))
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := s.opts.HelmConfig(clients, ref.GetNamespace(), s.callLog(ctx, verb, ref, secrets))
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return clients, cfg, release, nil
}

// deployedRelease is the latest deployed revision, which drift is measured against:
// RELEASE_NOT_FOUND when no revision is deployed (none, uninstalled, or only failed ones). When
// forWrite, a latest revision that is pending-* (another process holds the release) is
// RELEASE_LOCKED: correcting drift then would race that operation.
func deployedRelease(ctx context.Context, cfg *action.Config, name string, forWrite bool) (*rspb.Release, error) {
	deployed, latest, err := action.Deployed(ctx, cfg, name)
	if err != nil {
		return nil, err
	}
	if forWrite && latest != nil && latest.Info != nil && latest.Info.Status.IsPending() {
		return nil, failure.New(failure.ReleaseLocked, "release %q is %s (revision %d): another operation holds it", name, latest.Info.Status, latest.Version)
	}
	if deployed == nil {
		return nil, failure.New(failure.ReleaseNotFound, "release %q has no deployed revision to compare with the cluster", name)
	}
	return deployed, nil
}

func releaseOf(ref *runnerv1.ReleaseRef) drift.Release {
	return drift.Release{Name: ref.GetName(), Namespace: ref.GetNamespace()}
}
