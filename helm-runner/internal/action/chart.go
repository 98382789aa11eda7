package action

import (
	"encoding/json"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
)

// prepareChart checks that ch is safe to hand to Helm and returns a private deep copy of it.
//
// The copy matters because Helm changes the chart it installs: it drops disabled subcharts and
// merges imported values into it. Charts are cached and shared between calls, so without a copy
// one release's values would change the chart every later call sees (and race with it).
func prepareChart(ch *chart.Chart) (*chart.Chart, error) {
	if ch == nil || ch.Metadata == nil {
		return nil, failure.New(failure.InvalidArgument, "no chart given")
	}
	if err := checkSchemaRefs(ch); err != nil {
		return nil, err
	}
	return copyChart(ch), nil
}

// checkSchemaRefs refuses a chart whose values.schema.json, or any subchart's, refers to a
// document outside itself. Helm's schema validator loads $ref targets from file:, http: and
// https: URLs with no way to turn that off: a chart could read the runner's files or make it
// send requests to internal addresses (SSRF). Only same-document references ("#...") and the
// standard JSON Schema dialects as $schema are allowed.
func checkSchemaRefs(ch *chart.Chart) error {
	if len(ch.Schema) > 0 {
		var doc any
		if err := json.Unmarshal(ch.Schema, &doc); err != nil {
			return failure.Wrap(failure.InvalidChart, err, "chart %s: values.schema.json is not JSON", ch.Name())
		}
		if ref, ok := externalRef(doc); ok {
			return failure.New(failure.InvalidChart,
				"chart %s: values.schema.json refers to %q: only references within the schema (\"#...\") are allowed", ch.Name(), ref)
		}
	}
	for _, sub := range ch.Dependencies() {
		if err := checkSchemaRefs(sub); err != nil {
			return err
		}
	}
	return nil
}

// externalRef returns the first reference in a schema document that points outside it.
func externalRef(v any) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		for key, val := range x {
			s, isString := val.(string)
			switch {
			case isString && (key == "$ref" || key == "$dynamicRef" || key == "$recursiveRef"):
				if !strings.HasPrefix(s, "#") {
					return s, true
				}
			case isString && key == "$schema":
				if !knownDialect(s) {
					return s, true
				}
			default:
				if ref, ok := externalRef(val); ok {
					return ref, true
				}
			}
		}
	case []any:
		for _, e := range x {
			if ref, ok := externalRef(e); ok {
				return ref, true
			}
		}
	}
	return "", false
}

// knownDialect reports whether a $schema URL is one of the dialects the validator embeds
// (github.com/santhosh-tekuri/jsonschema/v6 draftFromURL), which it never fetches.
func knownDialect(url string) bool {
	u := strings.TrimSuffix(url, "#")
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		u = rest
	} else {
		u = strings.TrimPrefix(u, "https://")
	}
	switch u {
	case "json-schema.org/schema", "json-schema.org/draft/2020-12/schema", "json-schema.org/draft/2019-09/schema",
		"json-schema.org/draft-07/schema", "json-schema.org/draft-06/schema", "json-schema.org/draft-04/schema":
		return true
	}
	return false
}

// copyChart deep-copies what Helm may change (metadata, dependency list, values) and shares
// the rest (file contents, which Helm only reads).
func copyChart(ch *chart.Chart) *chart.Chart {
	out := *ch
	if ch.Metadata != nil {
		md := *ch.Metadata
		md.Dependencies = nil
		for _, d := range ch.Metadata.Dependencies {
			dc := *d
			md.Dependencies = append(md.Dependencies, &dc)
		}
		out.Metadata = &md
	}
	out.Values = helmvalues.Copy(ch.Values)
	out.Templates = append(out.Templates[:0:0], ch.Templates...)
	out.Files = append(out.Files[:0:0], ch.Files...)
	out.Raw = append(out.Raw[:0:0], ch.Raw...)
	deps := make([]*chart.Chart, 0, len(ch.Dependencies()))
	for _, d := range ch.Dependencies() {
		deps = append(deps, copyChart(d))
	}
	out.SetDependencies(deps...)
	return &out
}
