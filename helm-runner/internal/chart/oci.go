package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// fetchOCI pulls `<repo>/<name>:<version>` with Helm's registry client and returns the chart
// layer. Credentials are offered only for the repository's host[:port]; the client never reads
// the runner's own Helm or Docker credential files; every response body is capped at
// MaxArchiveBytes; ctx bounds every request although the client itself passes none.
func (s *Source) fetchOCI(ctx context.Context, t target) ([]byte, error) {
	client, err := s.registryClient(ctx, t)
	if err != nil {
		return nil, err
	}
	ref := ociReference(t)
	res, err := client.Pull(ref)
	if err != nil {
		return nil, s.ociFailure(ctx, client, t, err)
	}
	if res.Chart == nil || len(res.Chart.Data) == 0 {
		return nil, failure.New(failure.InvalidChart, "%s holds no chart layer", ref)
	}
	return res.Chart.Data, nil
}

func (s *Source) registryClient(ctx context.Context, t target) (*registry.Client, error) {
	tr, err := s.transports.get(t.ref.CABundle)
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{
		Transport:     boundTransport{ctx: ctx, next: limitTransport{max: s.limits.MaxArchiveBytes, next: tr}},
		CheckRedirect: redirectPolicy(t.plainHTTP),
	}
	authorizer := auth.Client{Client: httpClient, Cache: auth.NewCache()}
	authorizer.SetUserAgent("planton-helm-runner")
	if !t.cred.empty() {
		authorizer.Credential = auth.StaticCredential(t.repo.Host, auth.Credential{
			Username:     t.cred.username,
			Password:     t.cred.password,
			RefreshToken: t.cred.identityToken,
		})
	}
	opts := []registry.ClientOption{
		registry.ClientOptHTTPClient(httpClient),
		registry.ClientOptAuthorizer(authorizer),
		// A file that is never written: the client must not pick up the runner user's own
		// registry logins.
		registry.ClientOptCredentialsFile(s.registryConfigPath),
	}
	if t.plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "create registry client")
	}
	return client, nil
}

// ociRepository is `host[:port]/path/name` without a scheme.
func ociRepository(t target) string {
	return t.repo.Host + t.repo.Path + "/" + t.ref.Name
}

// ociReference is the chart's reference; Helm turns `+` into `_` in the tag itself.
func ociReference(t target) string {
	return ociRepository(t) + ":" + t.ref.Version
}

// ociFailure classifies a pull error. A missing manifest does not say whether the repository
// or only the tag is missing (the client drops the 404 body, and distribution answers
// MANIFEST_UNKNOWN for both), so the tag list, which answers NAME_UNKNOWN for a missing
// repository, tells them apart.
func (s *Source) ociFailure(ctx context.Context, client *registry.Client, t target, err error) error {
	where := "oci://" + ociRepository(t)
	if f := contextFailure(ctx, "pull from "+where); f != nil {
		return f
	}
	var resp *errcode.ErrorResponse
	switch {
	case errors.Is(err, errTooLarge), errors.Is(err, errdef.ErrSizeExceedsLimit):
		return sizeFailure("a response of "+where, s.limits.MaxArchiveBytes)
	case errors.Is(err, errdef.ErrInvalidReference):
		return failure.Wrap(failure.InvalidArgument, err, "%s is not a valid OCI reference", where)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return failure.New(failure.AuthFailed, "%s requires credentials", where)
	case errors.Is(err, errdef.ErrNotFound):
		return s.ociNotFound(ctx, client, t, where)
	case errors.As(err, &resp):
		return ociResponseFailure(resp, t, where)
	}
	if isTransportError(err) {
		return connectionFailure(ctx, err, where)
	}
	return failure.Wrap(failure.InvalidChart, err, "%s:%s is not a usable Helm chart", where, t.ref.Version)
}

func (s *Source) ociNotFound(ctx context.Context, client *registry.Client, t target, where string) error {
	tags, err := client.Tags(ociRepository(t))
	if f := contextFailure(ctx, "list tags of "+where); f != nil {
		return f
	}
	var resp *errcode.ErrorResponse
	switch {
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		return failure.New(failure.ChartNotFound, "chart %q not found: %s does not exist", t.ref.Name, where)
	case err != nil:
		return failure.New(failure.VersionNotFound,
			"%s has no version %q (the registry did not list its tags, so the chart itself may be missing)", where, t.ref.Version)
	case len(tags) == 0:
		return failure.New(failure.ChartNotFound, "chart %q not found: %s has no versions", t.ref.Name, where)
	}
	more := ""
	if len(tags) > maxListedVersions {
		more = fmt.Sprintf(" and %d more", len(tags)-maxListedVersions)
		tags = tags[:maxListedVersions]
	}
	return failure.New(failure.VersionNotFound, "chart %q has no version %q at %s (available: %s%s)",
		t.ref.Name, t.ref.Version, where, strings.Join(tags, ", "), more)
}

func ociResponseFailure(resp *errcode.ErrorResponse, t target, where string) error {
	hasCode := func(code string) bool {
		for _, e := range resp.Errors {
			if e.Code == code {
				return true
			}
		}
		return false
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return statusFailure(resp.StatusCode, where, !t.cred.empty(), failure.ChartNotFound, "")
	case hasCode(errcode.ErrorCodeNameUnknown):
		return failure.New(failure.ChartNotFound, "chart %q not found: %s does not exist", t.ref.Name, where)
	case hasCode(errcode.ErrorCodeManifestUnknown):
		return failure.New(failure.VersionNotFound, "%s has no version %q", where, t.ref.Version)
	case hasCode(errcode.ErrorCodeNameInvalid):
		return failure.New(failure.InvalidArgument, "%s is not a valid repository name", where)
	}
	return statusFailure(resp.StatusCode, where, !t.cred.empty(), failure.VersionNotFound, "not found")
}

// isTransportError recognises failures below HTTP: every error of http.Client.Do is a
// *url.Error, and a body cut short is a net.Error or an unexpected EOF.
func isTransportError(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}
