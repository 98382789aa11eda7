package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

// authEcho answers Get with the authorization metadata it received as the HelmRelease's name.
type authEcho struct {
	helmv1.UnimplementedHelmReleaseServiceServer
}

func (authEcho) Get(ctx context.Context, _ *helmv1.GetRequest) (*helmv1.GetResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) != 1 {
		return nil, status.Errorf(codes.Unauthenticated, "%d authorization values", len(auth))
	}
	return &helmv1.GetResponse{HelmRelease: &helmv1.HelmRelease{Name: auth[0]}}, nil
}

// serveTLS serves authEcho over TLS on a loopback port with a certificate for 127.0.0.1
// signed by a new CA, and returns the address and the CA file.
func serveTLS(t *testing.T) (addr, caFile string) {
	t.Helper()
	ca, caKey, caPEM := newCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&tls.Certificate{
		Certificate: [][]byte{der}, PrivateKey: key,
	})))
	helmv1.RegisterHelmReleaseServiceServer(server, authEcho{})
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return listener.Addr().String(), writeFile(t, "ca.crt", caPEM)
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func callGet(t *testing.T, c *Client) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := c.Get(ctx, &helmv1.GetRequest{Namespace: "ns", Name: "n"})
	return got.GetHelmRelease().GetName(), err
}

func TestDialSendsTheTokenOverTLS(t *testing.T) {
	addr, caFile := serveTLS(t)
	c, err := Dial(addr, caFile, "token-1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	auth, err := callGet(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer token-1" {
		t.Fatalf("authorization = %q, want %q", auth, "Bearer token-1")
	}
}

func TestDialRefusesAServerItsCADidNotSign(t *testing.T) {
	addr, _ := serveTLS(t)
	_, _, otherCA := newCA(t)
	c, err := Dial(addr, writeFile(t, "other.crt", otherCA), "token-1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := callGet(t, c); status.Code(err) != codes.Unavailable {
		t.Fatalf("Get through an untrusted certificate: %v, want Unavailable", err)
	}
}

func TestDialWithoutTokenFails(t *testing.T) {
	if _, err := Dial("127.0.0.1:1", "", ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Dial with no token: %v, want ErrNoToken", err)
	}
}

func TestTLSConfigRefusesACAFileWithoutCertificate(t *testing.T) {
	if _, err := TLSConfig(writeFile(t, "ca.crt", []byte("not a certificate\n"))); err == nil {
		t.Fatal("TLSConfig accepted a CA file without a PEM certificate")
	}
	if _, err := TLSConfig(filepath.Join(t.TempDir(), "missing.crt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("TLSConfig of a missing file: %v, want ErrNotExist", err)
	}
}

func TestTokenFileSendsTheRotatedToken(t *testing.T) {
	addr, caFile := serveTLS(t)
	path := writeFile(t, "token", []byte("first\n"))
	c, err := DialWithToken(addr, caFile, TokenFile(path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if auth, err := callGet(t, c); err != nil || auth != "Bearer first" {
		t.Fatalf("first call: %q, %v", auth, err)
	}
	// The kubelet replaces the file; a later modification time marks the change even when
	// the size is the same.
	if err := os.WriteFile(path, []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if auth, err := callGet(t, c); err != nil || auth != "Bearer other" {
		t.Fatalf("after rotation: %q, %v", auth, err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := callGet(t, c); err == nil || !strings.Contains(err.Error(), ErrNoToken.Error()) {
		t.Fatalf("empty token file: %v, want an error saying %q", err, ErrNoToken)
	}
}
