package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// file is one tar entry of a test archive.
type file struct {
	name string
	body []byte
	typ  byte // tar.TypeReg when zero
	link string
	// size overrides the header size when non-zero.
	size int64
}

// tgz builds a gzip-compressed tar archive in memory.
func tgz(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hd := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: f.typ, Linkname: f.link, Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0)}
		if hd.Typeflag == 0 {
			hd.Typeflag = tar.TypeReg
		}
		if hd.Typeflag != tar.TypeReg {
			hd.Size = 0
		}
		if f.size != 0 {
			hd.Size = f.size
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatalf("write header %q: %v", f.name, err)
		}
		if hd.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				t.Fatalf("write %q: %v", f.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chartFiles are the files of a small valid chart under dir/.
func chartFiles(dir, name, version string) []file {
	return []file{
		{name: dir + "/Chart.yaml", body: fmt.Appendf(nil, "apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"1.0\"\n", name, version)},
		{name: dir + "/values.yaml", body: []byte("message: hello\n")},
		{name: dir + "/templates/configmap.yaml", body: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  message: {{ .Values.message | quote }}\n")},
	}
}

// chartArchive is a valid chart archive plus extra entries.
func chartArchive(t testing.TB, name, version string, extra ...file) []byte {
	t.Helper()
	return tgz(t, append(chartFiles(name, name, version), extra...)...)
}

func newTestSource(t testing.TB, limits Limits) *Source {
	t.Helper()
	s, err := NewSource(t.TempDir(), limits)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantReason fails unless err carries the reason want and, when given, a message containing
// every one of parts.
func wantReason(t testing.TB, err error, want failure.Reason, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := failure.ReasonOf(err); got != want {
		t.Fatalf("reason = %s, want %s (error: %v)", got, want, err)
	}
	var fe *failure.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *failure.Error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err.Error(), p)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// selfSignedCA returns the PEM of a CA certificate that signed nothing a test server uses.
func selfSignedCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "unrelated test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
