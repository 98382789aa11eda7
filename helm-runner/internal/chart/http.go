package chart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// maxListedVersions bounds the versions named in a VERSION_NOT_FOUND message.
const maxListedVersions = 10

// fetchHTTP downloads a chart archive from an index.yaml repository: the index, then the
// archive of the exact version. Credentials go only to the repository's scheme, host and port.
//
// Plain net/http rather than Helm's getter: the getter reads whole bodies without a limit,
// decides credential forwarding by its own options, and cannot share one pooled transport per CA
// bundle; here every read is bounded, redirects are checked, and ctx cancels everything.
func (s *Source) fetchHTTP(ctx context.Context, t target) ([]byte, error) {
	tr, err := s.transports.get(t.ref.CABundle)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: tr, CheckRedirect: redirectPolicy(t.ref.AllowInsecureHTTP)}

	index, err := s.fetchIndex(ctx, client, t)
	if err != nil {
		return nil, err
	}
	entry, err := findVersion(index, t)
	if err != nil {
		return nil, err
	}
	chartURL, err := chartURL(t, entry)
	if err != nil {
		return nil, err
	}
	data, err := get(ctx, client, chartURL, t.credFor(chartURL), s.limits.MaxArchiveBytes,
		failure.VersionNotFound, fmt.Sprintf("archive of %s %s listed in the index is missing", t.ref.Name, t.ref.Version))
	if errors.Is(err, errTooLarge) {
		return nil, sizeFailure(fmt.Sprintf("chart archive %s", display(chartURL)), s.limits.MaxArchiveBytes)
	}
	if err != nil {
		return nil, err
	}
	if want := strings.TrimPrefix(strings.ToLower(entry.Digest), "sha256:"); want != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want {
			return nil, failure.New(failure.InvalidChart,
				"chart archive %s has digest sha256:%s but the index says sha256:%s", display(chartURL), got, want)
		}
	}
	return data, nil
}

// credFor returns the credential to send to u: the Ref's only when u has the repository's
// scheme, host and port.
func (t target) credFor(u *url.URL) credential {
	if sameOrigin(u, t.repo) {
		return t.cred
	}
	return credential{}
}

func (s *Source) fetchIndex(ctx context.Context, client *http.Client, t target) (*repo.IndexFile, error) {
	indexURL := t.repo.JoinPath("index.yaml")
	data, err := get(ctx, client, indexURL, t.cred, s.limits.MaxIndexBytes,
		failure.RepositoryUnreachable, "no index.yaml: not a chart repository")
	if errors.Is(err, errTooLarge) {
		return nil, sizeFailure(fmt.Sprintf("index %s", display(indexURL)), s.limits.MaxIndexBytes)
	}
	if err != nil {
		return nil, err
	}
	return parseIndex(data, display(indexURL))
}

// parseIndex decodes an index the way Helm's repo/v1 loader does (JSON if it is JSON, else
// strict YAML) into Helm's index types.
func parseIndex(data []byte, where string) (*repo.IndexFile, error) {
	if len(data) == 0 {
		return nil, failure.New(failure.RepositoryUnreachable, "index %s is empty", where)
	}
	index := &repo.IndexFile{}
	var err error
	if json.Valid(data) {
		err = json.Unmarshal(data, index)
	} else {
		err = yaml.UnmarshalStrict(data, index)
	}
	if err != nil {
		return nil, failure.Wrap(failure.RepositoryUnreachable, err, "index %s cannot be parsed", where)
	}
	if index.APIVersion == "" {
		return nil, failure.New(failure.RepositoryUnreachable, "index %s has no apiVersion", where)
	}
	index.SortEntries()
	return index, nil
}

// findVersion looks up the exact version; unlike IndexFile.Get it never falls back to a
// constraint match.
func findVersion(index *repo.IndexFile, t target) (*repo.ChartVersion, error) {
	versions := index.Entries[t.ref.Name]
	var available []string
	for _, v := range versions {
		if v == nil || v.Metadata == nil || v.Removed {
			continue
		}
		if v.Version == t.ref.Version {
			return v, nil
		}
		available = append(available, v.Version)
	}
	if len(available) == 0 {
		return nil, failure.New(failure.ChartNotFound, "chart %q not found in repository %s", t.ref.Name, display(t.repo))
	}
	more := ""
	if len(available) > maxListedVersions {
		more = fmt.Sprintf(" and %d more", len(available)-maxListedVersions)
		available = available[:maxListedVersions]
	}
	return nil, failure.New(failure.VersionNotFound, "chart %q has no version %q in repository %s (available: %s%s)",
		t.ref.Name, t.ref.Version, display(t.repo), strings.Join(available, ", "), more)
}

// chartURL resolves the entry's first URL against the repository URL, as Helm does.
func chartURL(t target, entry *repo.ChartVersion) (*url.URL, error) {
	if len(entry.URLs) == 0 || entry.URLs[0] == "" {
		return nil, failure.New(failure.InvalidChart, "index entry of %s %s has no URL", t.ref.Name, t.ref.Version)
	}
	resolved, err := repo.ResolveReferenceURL(t.repo.String(), entry.URLs[0])
	if err != nil {
		return nil, failure.New(failure.InvalidChart, "index entry of %s %s has an invalid URL", t.ref.Name, t.ref.Version)
	}
	u, err := url.Parse(resolved)
	if err != nil {
		return nil, failure.New(failure.InvalidChart, "index entry of %s %s has an invalid URL", t.ref.Name, t.ref.Version)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !t.ref.AllowInsecureHTTP {
			return nil, failure.New(failure.InsecureRepository,
				"index entry of %s %s points to plain HTTP (%s), which is allowed only with the allow-insecure flag",
				t.ref.Name, t.ref.Version, display(u))
		}
	default:
		return nil, failure.New(failure.InvalidChart, "index entry of %s %s has a URL with scheme %q; only http(s) is fetched",
			t.ref.Name, t.ref.Version, shorten(u.Scheme))
	}
	return u, nil
}

// get fetches u and reads at most limit bytes of its body; a longer body is errTooLarge.
// A 404 fails with notFound and the message what.
func get(ctx context.Context, client *http.Client, u *url.URL, cred credential, limit int64,
	notFound failure.Reason, what string,
) ([]byte, error) {
	where := display(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "request to %s", where)
	}
	if cred.username != "" || cred.password != "" {
		req.SetBasicAuth(cred.username, cred.password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, connectionFailure(ctx, err, where)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusFailure(resp.StatusCode, where, !cred.empty(), notFound, what)
	}
	if resp.ContentLength > limit {
		return nil, errTooLarge
	}
	data, err := readLimited(resp.Body, limit)
	if errors.Is(err, errTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, connectionFailure(ctx, err, where)
	}
	return data, nil
}
