// Package client connects to the public gRPC API of the Planton HelmRelease controller
// (planton.helm.v1.HelmReleaseService): TLS, and a Kubernetes ServiceAccount token sent as
// `authorization: Bearer <token>` on every call. The generated messages and the service
// client are in github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1.
package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

// ErrNoToken is returned by Dial for an empty token: the API refuses every call without one.
var ErrNoToken = errors.New("no token")

// Client is a HelmReleaseServiceClient over its own connection. Close it when done.
type Client struct {
	helmv1.HelmReleaseServiceClient
	conn *grpc.ClientConn
}

// Close closes the connection; calls in flight fail with codes.Canceled.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Dial returns a client of the API at addr (host:port) that trusts the PEM CA certificates in
// caFile (empty: the system's roots) and sends token on every call. The connection is made on
// the first call, and made again after it breaks. opts are added to the client's dial options
// (for example grpc.WithUserAgent).
func Dial(addr, caFile, token string, opts ...grpc.DialOption) (*Client, error) {
	if token == "" {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrNoToken)
	}
	return DialWithToken(addr, caFile, BearerToken(token), opts...)
}

// DialWithToken is Dial with the token taken from token on every call, for a token that
// changes, such as TokenFile's.
func DialWithToken(addr, caFile string, token credentials.PerRPCCredentials, opts ...grpc.DialOption) (*Client, error) {
	tlsConfig, err := TLSConfig(caFile)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
		grpc.WithPerRPCCredentials(token),
	}, opts...)
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Client{HelmReleaseServiceClient: helmv1.NewHelmReleaseServiceClient(conn), conn: conn}, nil
}

// TLSConfig is the client TLS configuration Dial uses: TLS 1.2 or later, the server's
// certificate verified against the PEM CA certificates in caFile, or against the system's
// roots when caFile is empty.
func TLSConfig(caFile string) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return config, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
	}
	config.RootCAs = pool
	return config, nil
}
