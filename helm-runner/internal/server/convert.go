package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

var releaseStatuses = map[common.Status]runnerv1.ReleaseStatus{
	common.StatusUnknown:         runnerv1.ReleaseStatus_RELEASE_STATUS_UNKNOWN,
	common.StatusDeployed:        runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED,
	common.StatusUninstalled:     runnerv1.ReleaseStatus_RELEASE_STATUS_UNINSTALLED,
	common.StatusSuperseded:      runnerv1.ReleaseStatus_RELEASE_STATUS_SUPERSEDED,
	common.StatusFailed:          runnerv1.ReleaseStatus_RELEASE_STATUS_FAILED,
	common.StatusUninstalling:    runnerv1.ReleaseStatus_RELEASE_STATUS_UNINSTALLING,
	common.StatusPendingInstall:  runnerv1.ReleaseStatus_RELEASE_STATUS_PENDING_INSTALL,
	common.StatusPendingUpgrade:  runnerv1.ReleaseStatus_RELEASE_STATUS_PENDING_UPGRADE,
	common.StatusPendingRollback: runnerv1.ReleaseStatus_RELEASE_STATUS_PENDING_ROLLBACK,
}

func statusOf(s common.Status) runnerv1.ReleaseStatus {
	if v, ok := releaseStatuses[s]; ok {
		return v
	}
	return runnerv1.ReleaseStatus_RELEASE_STATUS_UNKNOWN
}

var writeActions = map[storage.Action]runnerv1.WriteAction{
	storage.Create: runnerv1.WriteAction_WRITE_ACTION_CREATE,
	storage.Update: runnerv1.WriteAction_WRITE_ACTION_UPDATE,
	storage.Delete: runnerv1.WriteAction_WRITE_ACTION_DELETE,
}

func writesOf(ws []storage.Write) []*runnerv1.ReleaseWrite {
	out := make([]*runnerv1.ReleaseWrite, 0, len(ws))
	for _, w := range ws {
		out = append(out, &runnerv1.ReleaseWrite{
			Action:       writeActions[w.Action],
			Revision:     int32(w.Revision),
			Status:       statusOf(w.Status),
			ChartVersion: w.ChartVersion,
			WriteTime:    timestamp(w.Time),
		})
	}
	return out
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// stateOf converts a release state, with secrets removed from Helm's description (which holds
// the error of a failed operation); inProgress says whether this runner holds the release now.
func stateOf(secrets *redact.Secrets, s action.State, inProgress bool) *runnerv1.ReleaseState {
	if !s.Exists {
		return &runnerv1.ReleaseState{Exists: false, OperationInProgress: inProgress}
	}
	return &runnerv1.ReleaseState{
		Exists:              true,
		Revision:            int32(s.Revision),
		Status:              statusOf(s.Status),
		ChartName:           s.ChartName,
		ChartVersion:        s.ChartVersion,
		AppVersion:          s.AppVersion,
		ValuesDigest:        s.ValuesDigest,
		ConfigDigest:        s.ConfigDigest,
		PendingLockHeld:     s.Pending,
		OperationInProgress: inProgress,
		FirstDeployedTime:   timestamp(s.FirstDeployed),
		LastDeployedTime:    timestamp(s.LastDeployed),
		Description:         secrets.String(s.Description),
		Tests:               testStateOf(s.Tests),
		Owner:               releaseOwnerOf(s.Owner),
	}
}

// releaseOwnerOf converts an owner; nil when there is none.
func releaseOwnerOf(o action.Owner) *runnerv1.ReleaseOwner {
	if o.IsZero() {
		return nil
	}
	return &runnerv1.ReleaseOwner{Namespace: o.Namespace, Name: o.Name, Uid: o.UID}
}

func testStateOf(t action.TestState) *runnerv1.TestState {
	return &runnerv1.TestState{HasTests: t.HasTests, Ran: t.Ran, Succeeded: t.Succeeded, CompletedTime: timestamp(t.Completed)}
}

// revisionOf converts a revision, with secrets removed from Helm's description.
func revisionOf(secrets *redact.Secrets, s action.State) *runnerv1.ReleaseRevision {
	return &runnerv1.ReleaseRevision{
		Revision:     int32(s.Revision),
		Status:       statusOf(s.Status),
		ChartName:    s.ChartName,
		ChartVersion: s.ChartVersion,
		AppVersion:   s.AppVersion,
		ValuesDigest: s.ValuesDigest,
		DeployedTime: timestamp(s.LastDeployed),
		Description:  secrets.String(s.Description),
		Tests:        testStateOf(s.Tests),
	}
}

var testPhases = map[rspb.HookPhase]runnerv1.TestPhase{
	rspb.HookPhaseUnknown:   runnerv1.TestPhase_TEST_PHASE_UNKNOWN,
	rspb.HookPhaseRunning:   runnerv1.TestPhase_TEST_PHASE_RUNNING,
	rspb.HookPhaseSucceeded: runnerv1.TestPhase_TEST_PHASE_SUCCEEDED,
	rspb.HookPhaseFailed:    runnerv1.TestPhase_TEST_PHASE_FAILED,
}

// testResultsOf converts test results, with secrets removed from their details.
func testResultsOf(secrets *redact.Secrets, rs []action.TestResult) []*runnerv1.TestHookResult {
	out := make([]*runnerv1.TestHookResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, &runnerv1.TestHookResult{
			Name:          r.Name,
			Phase:         testPhases[r.Phase],
			StartedTime:   timestamp(r.Started),
			CompletedTime: timestamp(r.Completed),
			Info:          secrets.String(r.Info),
		})
	}
	return out
}
