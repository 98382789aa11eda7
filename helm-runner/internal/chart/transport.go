package chart

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// maxTransports bounds the number of distinct CA bundles whose transports are kept for reuse.
const maxTransports = 64

// maxRedirects is the longest redirect chain followed.
const maxRedirects = 10

// transports shares one *http.Transport per CA bundle, so that connections to a repository
// are pooled across Gets instead of being dialled (and TLS-handshaken) every time.
type transports struct {
	mu   sync.Mutex
	byCA map[[sha256.Size]byte]*http.Transport
}

func newTransports() *transports {
	return &transports{byCA: map[[sha256.Size]byte]*http.Transport{}}
}

// get returns the transport trusting the system roots plus caBundle.
func (t *transports) get(caBundle []byte) (*http.Transport, error) {
	key := sha256.Sum256(caBundle)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byCA[key]; ok {
		return tr, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, failure.New(failure.InvalidArgument, "CA bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	tr := newTransport(cfg)
	if len(t.byCA) < maxTransports {
		t.byCA[key] = tr
	}
	return tr, nil
}

func newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// errInsecureRedirect is returned when a redirect leaves TLS for plain HTTP without permission.
var errInsecureRedirect = errors.New("redirect to plain HTTP refused")

// errTooLarge is returned when a response body exceeds its limit.
var errTooLarge = errors.New("response body exceeds the size limit")

// redirectPolicy follows at most maxRedirects redirects, never downgrades to plain HTTP unless
// allowed, and drops the Authorization header whenever the target's scheme, host and port
// differ from the first request's. Go's own rule keeps the header across ports and into
// subdomains, which would hand the credentials to another server.
func redirectPolicy(allowPlainHTTP bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return errors.New("stopped after too many redirects")
		}
		if req.URL.Scheme == "http" && !allowPlainHTTP {
			return errInsecureRedirect
		}
		if !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		return nil
	}
}

// boundTransport makes every request honour ctx. Helm's registry client issues its requests
// with context.Background(), so without this a pull could not be cancelled.
type boundTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(boundContext{Context: t.ctx, values: req.Context()}))
}

// boundContext takes its deadline and cancellation from the embedded context and its values
// from the request's own context first (the OCI client passes auth scopes that way).
type boundContext struct {
	context.Context
	values context.Context
}

func (c boundContext) Value(key any) any {
	if v := c.values.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

// limitTransport refuses response bodies larger than max bytes: by Content-Length before
// reading, and by counting while reading for bodies without one.
type limitTransport struct {
	max  int64
	next http.RoundTripper
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		_ = resp.Body.Close()
		return nil, errTooLarge
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, remaining: t.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	remaining int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.remaining < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.remaining -= int64(n)
	if b.remaining < 0 {
		return n, errTooLarge
	}
	return n, err
}

// readLimited reads all of r, failing with errTooLarge past max bytes.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}
