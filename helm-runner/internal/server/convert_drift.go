package server

import (
	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/drift"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

func ignoreRulesOf(rules []*runnerv1.IgnoreRule) []drift.IgnoreRule {
	out := make([]drift.IgnoreRule, 0, len(rules))
	for _, r := range rules {
		t := r.GetTarget()
		out = append(out, drift.IgnoreRule{
			Paths: r.GetPaths(), Group: t.GetGroup(), Version: t.GetVersion(), Kind: t.GetKind(),
			Name: t.GetName(), Namespace: t.GetNamespace(),
		})
	}
	return out
}

var changeTypes = map[drift.Change]runnerv1.ChangeType{
	drift.Create:    runnerv1.ChangeType_CHANGE_TYPE_CREATE,
	drift.Update:    runnerv1.ChangeType_CHANGE_TYPE_UPDATE,
	drift.Delete:    runnerv1.ChangeType_CHANGE_TYPE_DELETE,
	drift.Unchanged: runnerv1.ChangeType_CHANGE_TYPE_UNCHANGED,
}

// objectDiffOf converts an object's diff, with secrets removed from the field values.
func objectDiffOf(secrets *redact.Secrets, d drift.ObjectDiff) *runnerv1.ObjectDiff {
	out := &runnerv1.ObjectDiff{
		ApiVersion: d.APIVersion, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name,
		Change: changeTypes[d.Change],
	}
	for _, f := range d.Fields {
		out.Fields = append(out.Fields, &runnerv1.FieldDiff{
			Path: f.Path, Desired: secrets.String(f.Desired), Live: secrets.String(f.Live), Redacted: f.Redacted,
		})
	}
	return out
}

func objectDiffsOf(secrets *redact.Secrets, ds []drift.ObjectDiff) []*runnerv1.ObjectDiff {
	out := make([]*runnerv1.ObjectDiff, 0, len(ds))
	for _, d := range ds {
		out = append(out, objectDiffOf(secrets, d))
	}
	return out
}
