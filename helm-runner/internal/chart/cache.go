package chart

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// archive is a chart archive that passed inspection, with its digest ("sha256:<hex>").
type archive struct {
	data   []byte
	digest string
}

func newArchive(data []byte) archive {
	sum := sha256.Sum256(data)
	return archive{data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// cacheKey names a chart in both caches: the repository URL (which holds no credentials), how
// it is reached, the chart name and version, and a fingerprint of the credential.
func cacheKey(t target, credKey []byte) string {
	scheme := t.repo.Scheme
	if t.kind == kindOCI && t.plainHTTP {
		// A chart fetched over plain HTTP is not served to a caller that requires TLS.
		scheme = "oci+http"
	}
	h := sha256.New()
	for _, part := range []string{"v1", scheme, t.repo.Host, t.repo.EscapedPath(), t.repo.RawQuery,
		t.ref.Name, t.ref.Version, t.cred.fingerprint(credKey)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diskCache keeps archives as <key>.tgz with their digest in <key>.sha256, both written
// through a temporary file and a rename so that a reader never sees half a file.
type diskCache struct {
	dir string
	// maxBytes bounds what is read back, like a download.
	maxBytes int64
}

func (d diskCache) paths(key string) (archivePath, digestPath string) {
	return filepath.Join(d.dir, key+".tgz"), filepath.Join(d.dir, key+".sha256")
}

// load returns the cached archive of key. An archive whose digest differs from the recorded
// one, or that cannot be read, is removed and reported as absent.
func (d diskCache) load(key string) (archive, bool) {
	archivePath, digestPath := d.paths(key)
	want, err := os.ReadFile(digestPath)
	if err != nil {
		return archive{}, false
	}
	data, err := readFileLimited(archivePath, d.maxBytes)
	if err != nil {
		d.remove(key)
		return archive{}, false
	}
	a := newArchive(data)
	if a.digest != strings.TrimSpace(string(want)) {
		d.remove(key)
		return archive{}, false
	}
	return a, true
}

func (d diskCache) store(key string, a archive) error {
	archivePath, digestPath := d.paths(key)
	if err := writeAtomic(d.dir, archivePath, a.data); err != nil {
		return err
	}
	return writeAtomic(d.dir, digestPath, []byte(a.digest+"\n"))
}

func (d diskCache) remove(key string) {
	archivePath, digestPath := d.paths(key)
	_ = os.Remove(digestPath)
	_ = os.Remove(archivePath)
}

func readFileLimited(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, max)
}

func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// loadOrCreateKey returns the secret key of credential fingerprints, kept in the cache
// directory so that the disk cache outlives the process.
func loadOrCreateKey(name string) ([]byte, error) {
	key, err := os.ReadFile(name)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Dir(name), name, key); err != nil {
		return nil, err
	}
	return key, nil
}

// memoryCache keeps inspected archives, least recently used first out, within a byte budget.
// It holds archives rather than loaded charts because Helm's install and upgrade modify the
// chart they are given (chartutil.ProcessDependencies drops disabled dependencies and rewrites
// Metadata.Dependencies and Values), so every caller needs a chart of its own; parsing an
// archive in memory is cheap.
type memoryCache struct {
	mu      sync.Mutex
	max     int64
	size    int64
	order   *list.List // of *memoryEntry, most recent first
	entries map[string]*list.Element
}

type memoryEntry struct {
	key string
	archive
}

func newMemoryCache(max int64) *memoryCache {
	return &memoryCache{max: max, order: list.New(), entries: map[string]*list.Element{}}
}

func (m *memoryCache) get(key string) (archive, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return archive{}, false
	}
	m.order.MoveToFront(e)
	return e.Value.(*memoryEntry).archive, true
}

func (m *memoryCache) put(key string, a archive) {
	size := int64(len(a.data))
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.max {
		return
	}
	if e, ok := m.entries[key]; ok {
		m.size -= int64(len(e.Value.(*memoryEntry).data))
		m.order.Remove(e)
		delete(m.entries, key)
	}
	for m.size+size > m.max {
		oldest := m.order.Back()
		entry := oldest.Value.(*memoryEntry)
		m.size -= int64(len(entry.data))
		m.order.Remove(oldest)
		delete(m.entries, entry.key)
	}
	m.entries[key] = m.order.PushFront(&memoryEntry{key: key, archive: a})
	m.size += size
}
