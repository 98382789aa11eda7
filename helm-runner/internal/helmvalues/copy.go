// Package helmvalues holds what the runner does to Helm values itself, apart from Helm.
package helmvalues

// Copy deep-copies JSON-like values (maps with string keys and slices); other values are
// immutable scalars and are shared. Helm changes the values and charts it is given (coalescing,
// imported values), so every caller that shares them (cached charts, request values) copies first.
func Copy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return Copy(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}
