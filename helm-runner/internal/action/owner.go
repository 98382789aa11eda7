package action

import (
	"context"
	"maps"

	"helm.sh/helm/v4/pkg/release"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Release labels recording the HelmRelease that owns a release (Helm keeps release labels on its
// storage Secret, as for ConfigDigestLabel).
const (
	OwnerUIDLabel       = "helm.project-planton.org/owner-uid"
	OwnerNamespaceLabel = "helm.project-planton.org/owner-namespace"
	OwnerNameLabel      = "helm.project-planton.org/owner-name"
)

// unsetLabel is the value that makes Helm's upgrade delete a label of the previous revision.
const unsetLabel = "null"

// Owner is the HelmRelease that owns a release. Ownership is decided by UID; Name is recorded
// only when it is a valid label value (at most 63 characters).
type Owner struct {
	Namespace string
	Name      string
	UID       string
}

// IsZero reports whether o names no owner.
func (o Owner) IsZero() bool { return o.UID == "" }

// describe names the owner in messages.
func (o Owner) describe() string {
	if o.Name == "" {
		return "a HelmRelease in namespace " + o.Namespace + " (uid " + o.UID + ")"
	}
	return "HelmRelease " + o.Namespace + "/" + o.Name + " (uid " + o.UID + ")"
}

// OwnerOf returns the owner rel records; zero when it records none (no UID label).
func OwnerOf(rel *rspb.Release) Owner {
	if rel == nil || rel.Labels[OwnerUIDLabel] == "" {
		return Owner{}
	}
	return Owner{
		Namespace: rel.Labels[OwnerNamespaceLabel],
		Name:      rel.Labels[OwnerNameLabel],
		UID:       rel.Labels[OwnerUIDLabel],
	}
}

// ownerLabels returns the release labels recording o; nil for no owner. A name that is not a
// valid label value is left out, and for an upgrade removed ("null") so that a name recorded by
// the previous revision does not stay.
func ownerLabels(o *Owner, upgrade bool) map[string]string {
	if o == nil || o.IsZero() {
		return nil
	}
	labels := map[string]string{OwnerUIDLabel: o.UID, OwnerNamespaceLabel: o.Namespace}
	switch {
	case len(validation.IsValidLabelValue(o.Name)) == 0 && o.Name != unsetLabel:
		labels[OwnerNameLabel] = o.Name
	case upgrade:
		labels[OwnerNameLabel] = unsetLabel
	}
	return labels
}

// CheckOwner fails with RELEASE_OWNED_BY_OTHER when the latest revision of release name records
// an owner other than owner (by UID). A release without revisions, or whose latest revision
// records no owner, passes: whether to adopt it is the caller's decision. A nil owner is not
// checked. Writes nothing; the caller must hold the release (the check is only as good as the
// exclusion of other operations until the caller has written).
func CheckOwner(ctx context.Context, cfg *Config, name string, owner *Owner) error {
	if owner == nil {
		return nil
	}
	latest, err := Latest(ctx, cfg, name)
	if err != nil {
		return err
	}
	recorded := OwnerOf(latest)
	if recorded.IsZero() || recorded.UID == owner.UID {
		return nil
	}
	return failure.New(failure.ReleaseOwnedByOther, "release %s/%s is owned by %s", cfg.namespace, name, recorded.describe())
}

// recordOwner makes every revision of release name that Helm creates through cfg from now on
// record exactly owner (its labels set, or removed when owner is zero), whatever labels Helm
// gave it. Helm's rollback, and the rollback after a failed atomic upgrade, copy the labels of
// the revision they return to, which may record another owner or none.
func (c *Config) recordOwner(name string, owner Owner) {
	c.helm.Releases.Driver = ownerRecorder{Driver: c.helm.Releases.Driver, name: name, owner: owner}
}

// ownerRecorder is a driver.Driver that sets the owner labels of the records of one release it
// creates. Helm updates a record it created with the same release object, so the labels stay.
type ownerRecorder struct {
	driver.Driver
	name  string
	owner Owner
}

func (d ownerRecorder) Create(key string, rel release.Releaser) error {
	if r, ok := rel.(*rspb.Release); ok && r.Name == d.name {
		// Helm's rollback shares the target revision's label map: replace it, never change it.
		labels := maps.Clone(r.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		delete(labels, OwnerUIDLabel)
		delete(labels, OwnerNamespaceLabel)
		delete(labels, OwnerNameLabel)
		maps.Copy(labels, ownerLabels(&d.owner, false))
		r.Labels = labels
	}
	return d.Driver.Create(key, rel)
}
