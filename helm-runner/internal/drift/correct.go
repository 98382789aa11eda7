package drift

import "context"

// CorrectReport is the result of Correct.
type CorrectReport struct {
	// ObjectsChecked is the number of objects of the manifest compared with the cluster.
	ObjectsChecked int
	// Objects has one entry per drifted object, in manifest order.
	Objects []CorrectedObject
}

// CorrectedObject is a drifted object and what Correct did about it.
type CorrectedObject struct {
	// Drift is the drift found before the object was re-applied.
	Drift ObjectDiff
	// Corrected is true when the object was re-applied.
	Corrected bool
	// Err says why the object could not be re-applied, with a failure reason (CONFLICT when
	// other managers own drifted fields and forceConflicts is false, FORBIDDEN, TIMEOUT...).
	// Nil when Corrected.
	Err error
}

// AllCorrected reports whether every drifted object was re-applied.
func (r CorrectReport) AllCorrected() bool {
	for _, o := range r.Objects {
		if !o.Corrected {
			return false
		}
	}
	return true
}

// Correct detects drift as Detect does, then re-applies only the drifted objects from
// manifest with a server-side apply under Helm's field manager, creating missing ones; with
// forceConflicts it takes ownership of fields other managers hold. Objects drifted only in
// ignored fields are left alone. It makes no release revision and writes nothing to release
// storage.
//
// The error is Detect's when detection fails, and then nothing was applied. Otherwise the
// error is nil and the failure of each object, if any, is in its CorrectedObject: objects are
// applied independently, at most eight at a time, so one failure does not stop the others.
func Correct(ctx context.Context, c Cluster, rel Release, manifest string, ignore []IgnoreRule, forceConflicts bool) (CorrectReport, error) {
	report, targets, err := detect(ctx, c, rel, manifest, ignore)
	if err != nil {
		return CorrectReport{}, err
	}
	out := CorrectReport{
		ObjectsChecked: report.ObjectsChecked,
		Objects:        make([]CorrectedObject, len(targets)),
	}
	// fn never fails: a failed object must not cancel the others, so forEach returns nil.
	_ = forEach(ctx, len(targets), func(ctx context.Context, i int) error {
		_, err := targets[i].apply(ctx, false, forceConflicts)
		out.Objects[i] = CorrectedObject{Drift: report.Drifted[i], Corrected: err == nil, Err: err}
		return nil
	})
	return out, nil
}
