package chart

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// credential is what is sent to the repository's own host. Empty means anonymous.
type credential struct {
	username, password string
	// identityToken is a registry refresh token from a .dockerconfigjson (OCI only).
	identityToken string
}

func (c credential) empty() bool {
	return c.username == "" && c.password == "" && c.identityToken == ""
}

// fingerprint identifies the credential in cache keys without revealing it: an HMAC under a
// secret key kept in the cache directory, so that charts pulled with one credential are never
// served to a caller holding another or none.
func (c credential) fingerprint(key []byte) string {
	if c.empty() {
		return ""
	}
	m := hmac.New(sha256.New, key)
	for _, s := range []string{c.username, c.password, c.identityToken} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// credentialFor picks the credential for host from a Ref.
func credentialFor(r Ref, host string) (credential, error) {
	basic := r.Username != "" || r.Password != ""
	switch {
	case basic && len(r.DockerConfigJSON) > 0:
		return credential{}, failure.New(failure.InvalidArgument,
			"give either a username and password or a dockerconfigjson, not both")
	case basic && r.Username == "":
		return credential{}, failure.New(failure.InvalidArgument, "a password was given without a username")
	case basic:
		return credential{username: r.Username, password: r.Password}, nil
	case len(r.DockerConfigJSON) > 0:
		return dockerConfigCredential(r.DockerConfigJSON, host)
	}
	return credential{}, nil
}

type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// dockerConfigCredential returns the entry of a .dockerconfigjson for host[:port]; none is
// anonymous access. Keys may be written as URLs (`https://host/v1/`).
func dockerConfigCredential(data []byte, host string) (credential, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		// The decoder's message may quote the content: say only where it failed.
		return credential{}, failure.New(failure.InvalidArgument, "dockerconfigjson is not valid JSON")
	}
	for key, a := range cfg.Auths {
		if !strings.EqualFold(dockerConfigHost(key), host) {
			continue
		}
		c := credential{username: a.Username, password: a.Password, identityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return credential{}, failure.New(failure.InvalidArgument,
					"dockerconfigjson entry for %s has an auth field that is not base64", host)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return credential{}, failure.New(failure.InvalidArgument,
					"dockerconfigjson entry for %s has an auth field that is not user:password", host)
			}
			c.username, c.password = user, pass
		}
		return c, nil
	}
	return credential{}, nil
}

func dockerConfigHost(key string) string {
	key = strings.TrimPrefix(key, "https://")
	key = strings.TrimPrefix(key, "http://")
	host, _, _ := strings.Cut(key, "/")
	return host
}
