package action

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Texts of Helm errors that carry no sentinel or type. Helm wraps most errors with %w but
// formats some (hooks, rollback-on-failure, schema) into new messages, so the text is all that
// is left to recognise them by.
var (
	renderTexts = []string{
		"parse error at", "execution error at", "render error in", "template: ",
		"yaml parse error on", "error converting yaml to json", "failed to render resource",
	}
	hookTexts = []string{
		"failed pre-install", "failed post-install", "pre-upgrade hooks failed",
		"post-upgrade hooks failed", "warning: hook ",
	}
	tooLargeTexts = []string{
		"request is too large", "request entity too large", "exceeds the maximum", "too long: may not be more than",
		"too long: must have at most",
	}
	invalidChartTexts = []string{
		"chart requires kubeversion", "chart dependencies processing failed",
		"but missing in charts/ directory", "invalid chart apiversion",
	}
	revisionNotFound = regexp.MustCompile(`release has no -?\d+ version`)
)

// classify maps an error from Helm or Kubernetes to a failure reason. An error that already is
// a *failure.Error keeps its reason; anything unrecognised is KUBERNETES_API_ERROR, since every
// Helm operation that got past rendering failed talking to the cluster.
func classify(err error) failure.Reason {
	if err == nil {
		return ""
	}
	var fe *failure.Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "another operation (install/upgrade/rollback) is in progress"):
		return failure.ReleaseLocked
	case strings.Contains(msg, "values don't meet the specifications of the schema"):
		return failure.SchemaValidationFailed
	case errors.Is(err, driver.ErrReleaseExists), strings.Contains(msg, "cannot reuse a name that is still in use"):
		return failure.ReleaseExists
	case errors.Is(err, driver.ErrNoDeployedReleases), errors.Is(err, driver.ErrReleaseNotFound):
		return failure.ReleaseNotFound
	case revisionNotFound.MatchString(msg):
		return failure.RevisionNotFound
	case containsAny(msg, tooLargeTexts):
		return failure.ReleaseTooLarge
	case apierrors.IsForbidden(err), strings.Contains(msg, " is forbidden: "):
		return failure.Forbidden
	case errors.Is(err, context.Canceled):
		return failure.Cancelled
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "context deadline exceeded"),
		strings.Contains(msg, "timed out waiting"):
		return failure.Timeout
	case containsAny(msg, hookTexts):
		return failure.HookFailed
	case containsAny(msg, renderTexts):
		return failure.RenderFailed
	case apierrors.IsConflict(err), strings.Contains(msg, "apply failed with"),
		strings.Contains(msg, "exists and cannot be imported into the current release"):
		return failure.Conflict
	case containsAny(msg, invalidChartTexts):
		return failure.InvalidChart
	case strings.Contains(msg, "release name is invalid"), strings.Contains(msg, "invalid release name"):
		return failure.InvalidArgument
	}
	return failure.KubernetesAPIError
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// asFailure returns err as a *failure.Error with its classified reason. Schema validation
// errors get a message that names the failing paths without the values Helm quotes.
func asFailure(err error) *failure.Error {
	var fe *failure.Error
	if errors.As(err, &fe) {
		return fe
	}
	reason := classify(err)
	if reason == failure.SchemaValidationFailed {
		return &failure.Error{Reason: reason, Message: schemaMessage(err.Error())}
	}
	return failure.Wrap(reason, err, "")
}

// schemaLine is one jsonschema error line: "- at '/replicaCount': maximum: got 11, want 10".
var schemaLine = regexp.MustCompile(`^\s*- at '([^']*)': (.*)$`)

// keyword is a JSON Schema keyword leading a jsonschema error text ("maximum: got 11, ...").
var keyword = regexp.MustCompile(`^([A-Za-z]+): `)

// schemaMessage rewrites Helm's schema validation error to list each failing path with the
// keyword that failed, dropping the quoted values ("got 11", "'secret' does not match ...").
func schemaMessage(helmText string) string {
	var problems []string
	for line := range strings.SplitSeq(helmText, "\n") {
		m := schemaLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		path, detail := m[1], m[2]
		if path == "" {
			path = "/"
		}
		switch k := keyword.FindStringSubmatch(detail); {
		case strings.HasPrefix(detail, "missing propert"), strings.HasPrefix(detail, "value must be "):
			// Property names and enum or const values come from the chart's schema, not from
			// the values.
			problems = append(problems, "at '"+path+"': "+detail)
		case strings.HasPrefix(detail, "got ") && strings.Contains(detail, ", want "):
			// A type mismatch names JSON types only ("got string, want integer").
			problems = append(problems, "at '"+path+"': "+detail)
		case k != nil:
			problems = append(problems, "at '"+path+"': "+k[1])
		default:
			problems = append(problems, "at '"+path+"'")
		}
	}
	if len(problems) == 0 {
		return "values don't meet the specifications of the chart's values.schema.json"
	}
	return "values don't meet the specifications of the chart's values.schema.json: " + strings.Join(problems, "; ")
}
