package server

import (
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/project-planton/helm-release-controller/helm-runner/gen/names"
	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Helm's release name rule (at most 53 characters, DNS-1123 subdomain), Kubernetes' namespace
// rule (DNS-1123 label) and ServiceAccount rule (DNS-1123 subdomain): the rules the HelmRelease
// CRD and the reconciler apply, generated from src/api/names.ts.
var (
	releaseNamePattern    = regexp.MustCompile(names.ReleaseNamePattern)
	namespacePattern      = regexp.MustCompile(names.NamespacePattern)
	serviceAccountPattern = regexp.MustCompile(names.ServiceAccountNamePattern)
	configDigestRule      = regexp.MustCompile(`^[A-Za-z0-9._-]{0,63}$`)
)

const (
	maxReleaseNameLength = names.MaxReleaseNameLength
	minTimeout           = time.Second
	maxTimeout           = time.Hour
)

func validateRelease(ref *runnerv1.ReleaseRef) error {
	switch {
	case ref == nil:
		return failure.New(failure.InvalidArgument, "release is required")
	case ref.GetName() == "" || len(ref.GetName()) > maxReleaseNameLength || !releaseNamePattern.MatchString(ref.GetName()):
		return failure.New(failure.InvalidArgument,
			"release name %q must be at most 53 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit", ref.GetName())
	case !namespacePattern.MatchString(ref.GetNamespace()) || len(ref.GetNamespace()) > names.MaxNamespaceLength:
		return failure.New(failure.InvalidArgument, "namespace %q is not a valid namespace name", ref.GetNamespace())
	case ref.GetServiceAccountName() != "" && (!serviceAccountPattern.MatchString(ref.GetServiceAccountName()) ||
		len(ref.GetServiceAccountName()) > names.MaxServiceAccountNameLength):
		return failure.New(failure.InvalidArgument, "service account name %q is not valid", ref.GetServiceAccountName())
	case ref.GetServiceAccountNamespace() != "" && !namespacePattern.MatchString(ref.GetServiceAccountNamespace()):
		return failure.New(failure.InvalidArgument, "service account namespace %q is not valid", ref.GetServiceAccountNamespace())
	}
	return validateOwner(ref.GetOwner())
}

// maxOwnerNameLength is the longest HelmRelease name (a DNS-1123 subdomain).
const maxOwnerNameLength = 253

// validateOwner requires an owner, when one is named, to have a UID that can be recorded (a
// label value: Kubernetes UIDs are), the HelmRelease's namespace and its name.
func validateOwner(o *runnerv1.ReleaseOwner) error {
	switch {
	case o == nil:
		return nil
	case o.GetUid() == "" || len(validation.IsValidLabelValue(o.GetUid())) > 0:
		return failure.New(failure.InvalidArgument, "owner uid %q must be a HelmRelease UID (at most 63 characters of [A-Za-z0-9._-])", o.GetUid())
	case !namespacePattern.MatchString(o.GetNamespace()) || len(o.GetNamespace()) > 63:
		return failure.New(failure.InvalidArgument, "owner namespace %q is not a valid namespace name", o.GetNamespace())
	case o.GetName() == "" || len(o.GetName()) > maxOwnerNameLength || !releaseNamePattern.MatchString(o.GetName()):
		return failure.New(failure.InvalidArgument, "owner name %q is not a valid HelmRelease name", o.GetName())
	}
	return nil
}

// validateTimeout requires a timeout between 1s and 1h and returns it.
func validateTimeout(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, failure.New(failure.InvalidArgument, "timeout is required")
	}
	t := d.AsDuration()
	if t < minTimeout || t > maxTimeout {
		return 0, failure.New(failure.InvalidArgument, "timeout %s is out of bounds: it must be between 1s and 1h", t)
	}
	return t, nil
}

// valuesOf converts request values to Helm's map, refusing documents over maxBytes.
func valuesOf(v *structpb.Struct, maxBytes int64) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	if size := proto.Size(v); int64(size) > maxBytes {
		return nil, failure.New(failure.InvalidValues, "values are %d bytes, more than the limit of %d", size, maxBytes)
	}
	return v.AsMap(), nil
}

func validateConfigDigest(d string) error {
	if !configDigestRule.MatchString(d) {
		return failure.New(failure.InvalidArgument, "config digest %q must be at most 63 characters of [A-Za-z0-9._-]", d)
	}
	return nil
}
