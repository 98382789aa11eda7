package drift

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// compareObjects returns the fields where applied (the server-side apply dry-run result: what
// the live object would become) differs from live, sorted by path. desired is the applied
// configuration and only restricts which differences count: a field counts when desired sets
// it, or when the apply would remove it (a field the manifest no longer sets). Differences in
// fields the manifest does not set and the apply keeps are other managers' business. Fields
// the server maintains and the paths in ignored are left out. For a Secret, values under data
// and stringData are redacted.
func compareObjects(desired, applied, live map[string]any, secret bool, ignored [][]string) []FieldDiff {
	if secret {
		desired = withStringDataAsData(desired)
	}
	w := walker{secret: secret, ignored: ignored}
	w.walk(nil, present(desired), present(stripServerFields(applied)), present(stripServerFields(live)))
	sort.Slice(w.diffs, func(i, j int) bool { return w.diffs[i].Path < w.diffs[j].Path })
	return w.diffs
}

// value is a JSON value and whether it is present at all, as absent differs from null.
type value struct {
	v  any
	ok bool
}

func present(v any) value { return value{v: v, ok: true} }

type walker struct {
	secret  bool
	ignored [][]string
	diffs   []FieldDiff
}

// walk descends d (desired), a (applied) and l (live) together. Maps are compared key by key
// and arrays of equal length index by index; anything else, including arrays whose length
// changes, is compared as a whole at path.
func (w *walker) walk(path []string, d, a, l value) {
	if covered(path, w.ignored) {
		return
	}
	am, aMap := a.v.(map[string]any)
	lm, lMap := l.v.(map[string]any)
	if a.ok && l.ok && aMap && lMap {
		dm, _ := d.v.(map[string]any)
		for _, k := range unionKeys(am, lm) {
			dv, dok := dm[k]
			av, aok := am[k]
			lv, lok := lm[k]
			w.walk(child(path, k), value{dv, d.ok && dok}, value{av, aok}, value{lv, lok})
		}
		return
	}
	as, aList := a.v.([]any)
	ls, lList := l.v.([]any)
	if a.ok && l.ok && aList && lList && len(as) == len(ls) {
		ds, _ := d.v.([]any)
		for i := range as {
			di := value{}
			if i < len(ds) {
				di = value{ds[i], d.ok}
			}
			w.walk(child(path, strconv.Itoa(i)), di, present(as[i]), present(ls[i]))
		}
		return
	}
	if a.ok == l.ok && reflect.DeepEqual(a.v, l.v) {
		return
	}
	// A change the apply makes to a field the manifest does not set comes from another
	// field's defaulting or from a writer racing us; only removals are the apply's own.
	if !d.ok && a.ok {
		return
	}
	w.add(path, a, l)
}

func (w *walker) add(path []string, a, l value) {
	fd := FieldDiff{Path: formatPointer(path)}
	if w.secret && len(path) > 0 && (path[0] == "data" || path[0] == "stringData") {
		fd.Redacted = true
	} else {
		fd.Desired, fd.Live = jsonText(a), jsonText(l)
	}
	w.diffs = append(w.diffs, fd)
}

func child(path []string, token string) []string {
	return append(path[:len(path):len(path)], token)
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func jsonText(v value) string {
	if !v.ok {
		return ""
	}
	b, err := json.Marshal(v.v)
	if err != nil {
		return ""
	}
	return string(b)
}

// serverMetadata are metadata fields the API server maintains; they change on every write.
var serverMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

// serverAnnotations are annotations written by controllers, kubectl or Helm itself rather than
// by the chart; a chart's own annotations are compared.
var serverAnnotations = []string{"deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"}

// stripServerFields returns a copy of obj without status, server-maintained metadata and the
// annotations above or under meta.helm.sh/; an annotation map left empty is removed so that
// it does not differ from an absent one.
func stripServerFields(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	out := shallowCopy(obj)
	delete(out, "status")
	md, ok := out["metadata"].(map[string]any)
	if !ok {
		return out
	}
	md = shallowCopy(md)
	out["metadata"] = md
	for _, f := range serverMetadata {
		delete(md, f)
	}
	annotations, ok := md["annotations"].(map[string]any)
	if !ok {
		return out
	}
	annotations = shallowCopy(annotations)
	md["annotations"] = annotations
	for k := range annotations {
		if strings.HasPrefix(k, "meta.helm.sh/") || contains(serverAnnotations, k) {
			delete(annotations, k)
		}
	}
	if len(annotations) == 0 {
		delete(md, "annotations")
	}
	return out
}

// shallowCopy copies the top level of m; the maps above are only ever trimmed, never written
// below their first level, so sharing deeper values is safe.
func shallowCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// withStringDataAsData returns desired with the keys of stringData also under data, where the
// API server stores them, so that drift of a stringData value is found under /data.
func withStringDataAsData(desired map[string]any) map[string]any {
	sd, ok := desired["stringData"].(map[string]any)
	if !ok || len(sd) == 0 {
		return desired
	}
	out := shallowCopy(desired)
	data := map[string]any{}
	if d, ok := desired["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k, v := range sd {
		data[k] = v
	}
	out["data"] = data
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
