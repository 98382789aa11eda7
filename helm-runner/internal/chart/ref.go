package chart

import (
	"net/url"
	"strings"
	"unicode"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Ref names one chart version and how to reach it.
type Ref struct {
	// Repo is the repository URL: https:// or http:// (an index.yaml repository) or oci://.
	// It must not embed credentials.
	Repo string
	// Name is the chart name: not empty, not `.` or `..`, no `/` or `\`.
	Name string
	// Version is one exact SemVer 2.0 version (see ValidateVersion).
	Version string
	// Username and Password are basic-authentication credentials, sent only to the
	// repository's own scheme, host and port.
	Username, Password string
	// DockerConfigJSON is the content of a .dockerconfigjson; the entry whose key names the
	// repository's host[:port] is used. Exclusive with Username and Password.
	DockerConfigJSON []byte
	// CABundle is a PEM bundle trusted for the repository's TLS certificate, in addition to the
	// system trust store.
	CABundle []byte
	// AllowInsecureHTTP permits an http:// repository and makes oci:// use plain HTTP. Without
	// it an http:// repository fails with INSECURE_REPOSITORY before any connection, and oci://
	// uses TLS (a registry answering in plain HTTP then fails with INSECURE_REPOSITORY).
	AllowInsecureHTTP bool
}

type repoKind int

const (
	kindHTTP repoKind = iota
	kindOCI
)

// target is a validated Ref, ready to be fetched.
type target struct {
	ref  Ref
	kind repoKind
	// repo is the repository URL without a trailing slash.
	repo *url.URL
	// plainHTTP is set when the repository is reached without TLS.
	plainHTTP bool
	cred      credential
}

// validate checks everything that can be checked without a connection.
func (r Ref) validate() (target, error) {
	u, err := parseRepo(r.Repo)
	if err != nil {
		return target{}, err
	}
	if err := validateName(r.Name); err != nil {
		return target{}, err
	}
	if err := ValidateVersion(r.Version); err != nil {
		return target{}, err
	}
	t := target{ref: r, repo: u}
	switch u.Scheme {
	case "oci":
		t.kind = kindOCI
		t.plainHTTP = r.AllowInsecureHTTP
	case "http":
		if !r.AllowInsecureHTTP {
			return target{}, failure.New(failure.InsecureRepository,
				"repository %s uses plain HTTP, which is allowed only when the controller runs with its allow-insecure flag", display(u))
		}
		t.plainHTTP = true
	}
	t.cred, err = credentialFor(r, u.Host)
	if err != nil {
		return target{}, err
	}
	return t, nil
}

func parseRepo(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, failure.New(failure.InvalidArgument, "repository URL is required")
	}
	if !strings.Contains(raw, "://") {
		return nil, failure.New(failure.InvalidArgument,
			"repository URL %q has no scheme: use https://, http:// or oci://", shorten(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold a secret: keep only the reason.
		var reason error = err
		if ue, ok := err.(*url.Error); ok {
			reason = ue.Err
		}
		return nil, failure.New(failure.InvalidArgument, "repository URL is not a valid URL: %v", reason)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci":
		return nil, failure.New(failure.InvalidArgument,
			"repository URL scheme %q is not supported: use https://, http:// or oci://", shorten(u.Scheme))
	case u.User != nil:
		return nil, failure.New(failure.InvalidArgument,
			"repository URL must not contain credentials: give them as repository credentials")
	case u.Host == "" || u.Opaque != "":
		return nil, failure.New(failure.InvalidArgument, "repository URL %q has no host", shorten(raw))
	case u.Fragment != "":
		return nil, failure.New(failure.InvalidArgument, "repository URL must not have a fragment")
	case u.Scheme == "oci" && (u.RawQuery != "" || u.ForceQuery):
		return nil, failure.New(failure.InvalidArgument, "an oci:// repository URL must not have a query")
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// validateName refuses names that would escape a path or change a URL or an OCI reference.
func validateName(name string) error {
	switch {
	case name == "":
		return failure.New(failure.InvalidArgument, "chart name is required")
	case name == "." || name == "..":
		return failure.New(failure.InvalidArgument, "chart name %q is not allowed", name)
	case strings.ContainsAny(name, `/\`):
		return failure.New(failure.InvalidArgument, "chart name %q must not contain / or \\", shorten(name))
	case strings.ContainsAny(name, ":@?#%"):
		return failure.New(failure.InvalidArgument, "chart name %q must not contain any of : @ ? # %%", shorten(name))
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return failure.New(failure.InvalidArgument, "chart name %q must not contain spaces or control characters", shorten(name))
	}
	return nil
}

// display renders a URL for messages: scheme, host and path only, since a query may carry a
// token.
func display(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// sameOrigin reports whether a and b have the same scheme, host and port, the only place
// credentials may go (Helm's passCredentials=false).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Host + ":443"
	case "http":
		return u.Host + ":80"
	}
	return u.Host
}
