package chart

import (
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestGetRefusesBadRefsBeforeAnyConnection(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	host := strings.TrimPrefix(r.srv.URL, "http://")
	ok := r.ref("plain", "1.0.0")
	with := func(edit func(*Ref)) Ref {
		ref := ok
		edit(&ref)
		return ref
	}
	tests := []struct {
		name string
		ref  Ref
		want failure.Reason
		says string
	}{
		{"an empty repository URL", with(func(r *Ref) { r.Repo = "" }), failure.InvalidArgument, "required"},
		{"an ftp repository", with(func(r *Ref) { r.Repo = "ftp://" + host }), failure.InvalidArgument, `"ftp"`},
		{"a repository without a scheme", with(func(r *Ref) { r.Repo = host }), failure.InvalidArgument, "scheme"},
		{"a repository without a host", with(func(r *Ref) { r.Repo = "https:///charts" }), failure.InvalidArgument, "no host"},
		{"credentials in the repository URL", with(func(r *Ref) { r.Repo = "http://user:secret@" + host }), failure.InvalidArgument, "must not contain credentials"},
		{"plain HTTP without the insecure flag", with(func(r *Ref) { r.AllowInsecureHTTP = false }), failure.InsecureRepository, "allow-insecure"},
		{"an oci repository with a query", with(func(r *Ref) { r.Repo = "oci://" + host + "/charts?x=1" }), failure.InvalidArgument, "query"},
		{"an empty chart name", with(func(r *Ref) { r.Name = "" }), failure.InvalidArgument, "name is required"},
		{"the chart name .", with(func(r *Ref) { r.Name = "." }), failure.InvalidArgument, `"."`},
		{"the chart name ..", with(func(r *Ref) { r.Name = ".." }), failure.InvalidArgument, `".."`},
		{"a chart name with a slash", with(func(r *Ref) { r.Name = "../plain" }), failure.InvalidArgument, "must not contain /"},
		{"a chart name with a backslash", with(func(r *Ref) { r.Name = `a\b` }), failure.InvalidArgument, "must not contain /"},
		{"a chart name with a tag separator", with(func(r *Ref) { r.Name = "plain:1.0.0" }), failure.InvalidArgument, "must not contain any of"},
		{"a caret range", with(func(r *Ref) { r.Version = "^1.0.0" }), failure.InvalidVersion, `"^1.0.0"`},
		{"latest", with(func(r *Ref) { r.Version = "latest" }), failure.InvalidVersion, `"latest"`},
		{"a partial version", with(func(r *Ref) { r.Version = "1.0" }), failure.InvalidVersion, `"1.0"`},
		{"both basic auth and a dockerconfigjson", with(func(r *Ref) { r.Username, r.Password, r.DockerConfigJSON = "u", "p", []byte(`{}`) }), failure.InvalidArgument, "not both"},
		{"a password without a username", with(func(r *Ref) { r.Password = "p" }), failure.InvalidArgument, "without a username"},
		{"a dockerconfigjson that is not JSON", with(func(r *Ref) { r.DockerConfigJSON = []byte("auths: secret") }), failure.InvalidArgument, "not valid JSON"},
		{"a CA bundle without a certificate", with(func(r *Ref) { r.CABundle = []byte("not a certificate") }), failure.InvalidArgument, "no PEM certificate"},
	}
	s := newTestSource(t, Limits{})
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, _, err := s.Get(testContext(t), tt.ref)
			wantReason(t, err, tt.want, tt.says)
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q repeats a credential", err)
			}
		})
	}
	if n := r.requestCount(); n != 0 {
		t.Fatalf("the repository got %d requests, want none", n)
	}
}

func TestNewSourceRefusesNegativeLimits(t *testing.T) {
	_, err := NewSource(t.TempDir(), Limits{MaxFileBytes: -1})
	wantReason(t, err, failure.InvalidArgument, "negative")
}
