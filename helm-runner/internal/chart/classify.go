package chart

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// contextFailure returns TIMEOUT or CANCELLED when ctx has ended, else nil.
func contextFailure(ctx context.Context, what string) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return failure.Wrap(failure.Timeout, err, "%s: deadline exceeded", what)
	case err != nil:
		return failure.Wrap(failure.Cancelled, err, "%s: cancelled", what)
	}
	return nil
}

// connectionFailure classifies an error of a request to where (a display URL): the context
// first, then the size limit, TLS problems and plain HTTP where TLS was expected; anything else
// is REPOSITORY_UNREACHABLE.
func connectionFailure(ctx context.Context, err error, where string) error {
	if f := contextFailure(ctx, "request to "+where); f != nil {
		return f
	}
	// *url.Error repeats the full URL, query included: keep only its cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, errTooLarge):
		return failure.Wrap(failure.ChartTooLarge, err, "response of %s", where)
	case errors.Is(err, errInsecureRedirect):
		return failure.Wrap(failure.InsecureRepository, err,
			"%s redirected to plain HTTP, which is allowed only with the allow-insecure flag", where)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalidCert), errors.As(err, &verifyErr):
		return failure.Wrap(failure.RepositoryUnreachable, err,
			"TLS certificate of %s is not trusted (give the repository's CA bundle if it uses a private CA)", where)
	case isPlainHTTPAnswer(err):
		return failure.Wrap(failure.InsecureRepository, err,
			"%s answers in plain HTTP where TLS was expected; plain HTTP is allowed only with the allow-insecure flag", where)
	}
	return failure.Wrap(failure.RepositoryUnreachable, err, "%s is unreachable", where)
}

// isPlainHTTPAnswer recognises net/http's error for a TLS handshake answered in plain HTTP;
// it is an untyped error, so only its text identifies it.
func isPlainHTTPAnswer(err error) bool {
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// statusFailure classifies a non-200 HTTP response. notFound is the reason for a 404.
func statusFailure(code int, where string, hasCredentials bool, notFound failure.Reason, what string) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if hasCredentials {
			return failure.New(failure.AuthFailed, "%s refused the credentials (HTTP %d)", where, code)
		}
		return failure.New(failure.AuthFailed, "%s requires credentials (HTTP %d)", where, code)
	case code == http.StatusNotFound:
		return failure.New(notFound, "%s: %s (HTTP 404)", where, what)
	}
	return failure.New(failure.RepositoryUnreachable, "%s answered HTTP %d %s", where, code, http.StatusText(code))
}

func sizeFailure(what string, limit int64) error {
	return failure.New(failure.ChartTooLarge, "%s is larger than the limit of %s", what, bytesText(limit))
}

func bytesText(n int64) string {
	const mib = 1 << 20
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
