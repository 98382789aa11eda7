package client

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// BearerToken sends token as `authorization: Bearer <token>` on every call, over TLS only.
func BearerToken(token string) credentials.PerRPCCredentials {
	return bearer(func() (string, error) { return token, nil })
}

// TokenFile sends the token read from path on every call, over TLS only. The file is read
// again whenever its modification time or size changes, so a projected ServiceAccount token
// that the kubelet rotates (/var/run/secrets/kubernetes.io/serviceaccount/token) keeps working.
// A call fails, without being sent, when the file cannot be read or is empty.
func TokenFile(path string) credentials.PerRPCCredentials {
	f := &tokenFile{path: path}
	return bearer(f.token)
}

type bearer func() (string, error)

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token, err := b()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

type tokenFile struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	value   string
}

func (f *tokenFile) token() (string, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.value != "" && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return f.value, nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	value := string(bytes.TrimSpace(raw))
	if value == "" {
		return "", fmt.Errorf("token file %s: %w", f.path, ErrNoToken)
	}
	f.value, f.modTime, f.size = value, info.ModTime(), info.Size()
	return value, nil
}
