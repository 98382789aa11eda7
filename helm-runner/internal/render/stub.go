package render

import (
	"fmt"
	"sync"
	"text/template"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
)

// FuncName is the template function through which stubbed templates return rendered files.
const FuncName = "prerendered"

// stubBody replaces every template. Helm's engine sets .Template.Name to the template's path
// ("<chart>/templates/x.yaml", "<chart>/charts/<sub>/templates/y.yaml"), which is also the key
// of the files it renders, in-process or in the worker.
const stubBody = "{{ " + FuncName + " .Template.Name }}"

// Stubbed is a copy of a chart, subcharts included, whose templates are all stubs, for Helm to
// run an operation without executing the chart's template code.
type Stubbed struct {
	// Chart is the copy to give Helm. Helm may change it as it changes any chart it installs
	// (dependencies processed); the original is not affected.
	Chart *chart.Chart
	// originals maps each stub file to the template it replaces.
	originals map[*common.File]*common.File
}

// Stub returns a stubbed copy of ch. Metadata (with its dependency entries) and values are
// copied, since Helm's dependency processing rewrites them and is not idempotent (import-values
// entries are rewritten in place); files are shared, Helm only reads them.
func Stub(ch *chart.Chart) *Stubbed {
	s := &Stubbed{originals: map[*common.File]*common.File{}}
	s.Chart = s.stub(ch)
	return s
}

func (s *Stubbed) stub(ch *chart.Chart) *chart.Chart {
	out := *ch
	if ch.Metadata != nil {
		md := *ch.Metadata
		md.Dependencies = make([]*chart.Dependency, 0, len(ch.Metadata.Dependencies))
		for _, d := range ch.Metadata.Dependencies {
			if d == nil {
				md.Dependencies = append(md.Dependencies, nil)
				continue
			}
			dc := *d
			dc.ImportValues = append([]any(nil), d.ImportValues...)
			md.Dependencies = append(md.Dependencies, &dc)
		}
		if ch.Metadata.Dependencies == nil {
			md.Dependencies = nil
		}
		out.Metadata = &md
	}
	out.Values = helmvalues.Copy(ch.Values)
	out.Templates = make([]*common.File, len(ch.Templates))
	for i, f := range ch.Templates {
		if f == nil {
			continue
		}
		stub := &common.File{Name: f.Name, Data: []byte(stubBody), ModTime: f.ModTime}
		s.originals[stub] = f
		out.Templates[i] = stub
	}
	deps := make([]*chart.Chart, 0, len(ch.Dependencies()))
	for _, d := range ch.Dependencies() {
		deps = append(deps, s.stub(d))
	}
	out.SetDependencies(deps...)
	return &out
}

// Restore returns the chart to store in a release record in place of c: when c is the stubbed
// copy (as Helm left it), a copy of it with the original templates back in it and in its
// subcharts (aliased copies Helm made included); any other chart (a previous revision's, on
// rollback) unchanged.
func (s *Stubbed) Restore(c *chart.Chart) *chart.Chart {
	if c == nil || c != s.Chart {
		return c
	}
	return s.restore(c)
}

func (s *Stubbed) restore(c *chart.Chart) *chart.Chart {
	out := *c
	out.Templates = make([]*common.File, len(c.Templates))
	for i, f := range c.Templates {
		if orig, ok := s.originals[f]; ok {
			out.Templates[i] = orig
		} else {
			out.Templates[i] = f
		}
	}
	deps := make([]*chart.Chart, 0, len(c.Dependencies()))
	for _, d := range c.Dependencies() {
		deps = append(deps, s.restore(d))
	}
	out.SetDependencies(deps...)
	return &out
}

// Prerender serves the stubs' template function. Its first call renders the original chart
// (through the function given to NewPrerender, typically Isolated.Render); every call then
// returns the rendered file of the template it is called from.
//
// Rendering on first use, not before Helm runs, gives the renderer exactly what Helm would
// render with: by then Helm has installed the chart's CRDs and read the cluster capabilities
// that include them.
type Prerender struct {
	render func() (map[string]string, error)

	once  sync.Once
	files map[string]string
	err   error
}

// NewPrerender returns a Prerender that renders with render on first use.
func NewPrerender(render func() (map[string]string, error)) *Prerender {
	return &Prerender{render: render}
}

// Funcs is the template function map to give Helm (action.Configuration.CustomTemplateFuncs).
func (p *Prerender) Funcs() template.FuncMap {
	return template.FuncMap{FuncName: p.file}
}

func (p *Prerender) file(name string) (string, error) {
	p.once.Do(func() { p.files, p.err = p.render() })
	if p.err != nil {
		return "", p.err
	}
	f, ok := p.files[name]
	if !ok {
		return "", fmt.Errorf("the render process returned no file %s", name)
	}
	return f, nil
}

// Err is why rendering failed; nil when it succeeded or never ran. Helm reports a failing
// template function inside its own template error text, so callers report Err instead when
// Helm fails and Err is set.
func (p *Prerender) Err() error {
	if p == nil {
		return nil
	}
	return p.err
}
