// Package render renders a chart's templates in a separate, resource-limited process, so that a
// hostile chart (an endless loop, a memory or output bomb, an endless recursion) fails only its
// own release instead of taking the runner and every other release's operation down with it.
//
// Go can neither stop a goroutine nor bound its memory, and Helm's template engine has no step
// budget, so the bound is a process: the runner starts its own binary as `helm-runner
// render-worker` (RunWorker), which limits itself (address space, CPU time, one thread of Go
// code), renders with Helm's engine exactly what Helm's install or upgrade would render, and
// prints the rendered files. Isolated is the runner's side: it feeds the worker, reads at most
// the output limit, and kills the worker at its deadline.
//
// Helm then runs the operation in-process on a copy of the chart whose templates are stubs
// (Stub) returning the worker's files, so hooks, NOTES, manifest ordering and release storage
// stay Helm's own while no chart template code runs in the runner.
package render

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/client-go/rest"
)

// Request is what Helm's action would render: a chart with user values for one revision of a
// release, with the cluster capabilities the action uses.
type Request struct {
	// Chart is the chart as given to Helm (dependencies not yet processed). It is not modified.
	Chart *chart.Chart
	// Values are the user-supplied values; nil is none. They must be JSON values (as values from
	// YAML or protobuf are) and are not modified.
	Values map[string]any
	// Release is what templates see as .Release.
	Release common.ReleaseOptions
	// Capabilities is what templates see as .Capabilities; nil is Helm's defaults.
	Capabilities *common.Capabilities
	// Cluster is the REST config of the identity the release is operated as, for the `lookup`
	// template function; nil: lookups find nothing (as in `helm template`).
	Cluster *rest.Config
	// Timeout is the operation's timeout; rendering gets at most this long (and at most the
	// renderer's own time limit). Zero: only the renderer's limit and ctx bound it.
	Timeout time.Duration
}

// chartID names a chart in messages: "name-version".
func chartID(ch *chart.Chart) string {
	if ch == nil || ch.Metadata == nil {
		return "(unnamed)"
	}
	return ch.Metadata.Name + "-" + ch.Metadata.Version
}

// ChartError is a render that failed the way it fails in Helm: a template error (`fail`,
// `required`, a parse or execution error) or invalid values. Message is Helm's message, so the
// caller classifies it exactly as it classifies Helm's own errors.
type ChartError struct {
	Message string
}

func (e *ChartError) Error() string { return e.Message }

// renderFiles does in the current process what Helm's install and upgrade do before and during
// rendering (pkg/action: ProcessDependencies, ToRenderValuesWithSchemaValidation, the engine
// with the release's cluster client and without DNS) and returns the rendered files by template
// path ("<chart>/templates/x.yaml", "<chart>/charts/<sub>/templates/y.yaml"), partials
// excluded. It changes ch as Helm does (disabled subcharts dropped, imported values merged): ch
// must be the caller's own copy.
func renderFiles(ctx context.Context, ch *chart.Chart, req Request) (map[string]string, error) {
	if err := chartutil.ProcessDependencies(ch, req.Values); err != nil {
		return nil, &ChartError{Message: fmt.Sprintf("chart dependencies processing failed: %v", err)}
	}
	vals, err := util.ToRenderValuesWithSchemaValidation(ch, req.Values, req.Release, req.Capabilities, false)
	if err != nil {
		return nil, &ChartError{Message: err.Error()}
	}
	var e engine.Engine
	if req.Cluster != nil {
		e = engine.New(req.Cluster)
	}
	e.EnableDNS = false
	files, err := e.RenderWithContext(ctx, ch, vals)
	if err != nil {
		return nil, &ChartError{Message: err.Error()}
	}
	return files, nil
}

// errNoWorkerResponse is a worker that ended without writing a complete response.
var errNoWorkerResponse = errors.New("the render process ended without a response")
