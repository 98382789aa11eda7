package action

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// State summarises one stored revision of a release.
type State struct {
	// Exists is false when the release has no revision; every other field is then zero.
	Exists       bool
	Revision     int
	Status       common.Status
	ChartName    string
	ChartVersion string
	AppVersion   string
	// ValuesDigest is ValuesDigest of the user-supplied values (Helm's release config).
	ValuesDigest string
	// ConfigDigest is the config digest given to the Install or Upgrade that made the
	// revision; empty when it was made by something else.
	ConfigDigest string
	// Pending is true when the status is pending-install, pending-upgrade or pending-rollback.
	Pending       bool
	FirstDeployed time.Time
	LastDeployed  time.Time
	Description   string
	Tests         TestState
	// Owner is the HelmRelease the revision records as its owner; zero when it records none.
	Owner Owner
}

// TestState says whether the chart's tests ran for a revision and how they ended.
type TestState struct {
	HasTests  bool
	Ran       bool
	Succeeded bool
	Completed time.Time
}

// GetReleaseState reads release name's revisions from storage: the latest, and up to
// historyLimit revisions newest first (the latest included). A release without revisions is
// State{Exists: false}, not an error. Writes nothing.
func GetReleaseState(ctx context.Context, cfg *Config, name string, historyLimit int) (State, []State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, nil, failure.Wrap(failure.ReasonOf(err), err, "")
	}
	revs, err := cfg.history(name)
	if err != nil {
		return State{}, nil, asFailure(err)
	}
	if len(revs) == 0 {
		return State{}, nil, nil
	}
	var history []State
	for _, r := range revs[:min(max(historyLimit, 0), len(revs))] {
		history = append(history, StateOf(r))
	}
	return StateOf(revs[0]), history, nil
}

// Latest returns the latest revision of release name, or nil when it has none.
func Latest(ctx context.Context, cfg *Config, name string) (*rspb.Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, failure.Wrap(failure.ReasonOf(err), err, "")
	}
	rel, err := cfg.latest(name)
	if err != nil {
		return nil, asFailure(err)
	}
	return rel, nil
}

// StateOf summarises rel; nil is a release that does not exist.
func StateOf(rel *rspb.Release) State {
	if rel == nil {
		return State{}
	}
	s := State{
		Exists:       true,
		Revision:     rel.Version,
		ValuesDigest: ValuesDigest(rel.Config),
		ConfigDigest: rel.Labels[ConfigDigestLabel],
		Tests:        testState(rel),
		Owner:        OwnerOf(rel),
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		s.ChartName, s.ChartVersion, s.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	if rel.Info != nil {
		s.Status, s.Pending, s.Description = rel.Info.Status, rel.Info.Status.IsPending(), rel.Info.Description
		s.FirstDeployed, s.LastDeployed = rel.Info.FirstDeployed, rel.Info.LastDeployed
	}
	return s
}

// testState reads the test hooks' last runs. A run that started before the revision was
// deployed belongs to an earlier revision (a rollback copies the hooks of the revision it
// returns to), so it does not count.
func testState(rel *rspb.Release) TestState {
	var ts TestState
	ts.Succeeded = true
	for _, h := range rel.Hooks {
		if !isTestHook(h) {
			continue
		}
		ts.HasTests = true
		run := h.LastRun
		if run.StartedAt.IsZero() || (rel.Info != nil && run.StartedAt.Before(rel.Info.LastDeployed)) {
			continue
		}
		ts.Ran = true
		ts.Succeeded = ts.Succeeded && run.Phase == rspb.HookPhaseSucceeded
		if run.CompletedAt.After(ts.Completed) {
			ts.Completed = run.CompletedAt
		}
	}
	ts.Succeeded = ts.Succeeded && ts.Ran
	return ts
}

func isTestHook(h *rspb.Hook) bool {
	return slices.Contains(h.Events, rspb.HookTest)
}

// history returns every stored revision of name, newest first; none is not an error.
func (c *Config) history(name string) ([]*rspb.Release, error) {
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return nil, failure.Wrap(failure.InvalidArgument, err, "release name %q", name)
	}
	all, err := c.helm.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	revs := make([]*rspb.Release, 0, len(all))
	for _, r := range all {
		switch rel := r.(type) {
		case *rspb.Release:
			revs = append(revs, rel)
		case rspb.Release:
			revs = append(revs, &rel)
		}
	}
	slices.SortFunc(revs, func(a, b *rspb.Release) int { return cmp.Compare(b.Version, a.Version) })
	return revs, nil
}

// Deployed returns the latest revision whose status is deployed (the one the cluster should
// match), and the latest revision of any status. deployed is nil when no revision is deployed;
// latest is nil when the release has no revision.
func Deployed(ctx context.Context, cfg *Config, name string) (deployed, latest *rspb.Release, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, failure.Wrap(failure.ReasonOf(err), err, "")
	}
	revs, err := cfg.history(name)
	if err != nil {
		return nil, nil, asFailure(err)
	}
	for _, r := range revs {
		if r.Info != nil && r.Info.Status == common.StatusDeployed {
			return r, firstOf(revs), nil
		}
	}
	return nil, firstOf(revs), nil
}

func firstOf(revs []*rspb.Release) *rspb.Release {
	if len(revs) == 0 {
		return nil
	}
	return revs[0]
}

// latest returns the latest revision of name, or nil when it has none.
func (c *Config) latest(name string) (*rspb.Release, error) {
	revs, err := c.history(name)
	if err != nil || len(revs) == 0 {
		return nil, err
	}
	return revs[0], nil
}
