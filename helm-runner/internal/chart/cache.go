package chart

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
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

// diskBlock is the allocation unit the disk cache counts in: a file takes whole blocks on the
// volume (4 KiB on ext4, xfs and tmpfs), and the volume's size limit counts blocks, not bytes.
const diskBlock = 4096

// touchInterval bounds how often a hit rewrites an archive's modification time, which is how the
// order of use outlives a restart: to within this interval, at most one syscall per archive.
const touchInterval = time.Minute

// errDiskCacheFull is returned by store when the archive cannot fit the budget: it is larger
// than the budget, or making room would remove archives being read.
var errDiskCacheFull = errors.New("chart cache budget exhausted")

// diskCache keeps archives as <key>.tgz with their digest in <key>.sha256, both written
// through a temporary file and a rename so that a reader never sees half a file, within a byte
// budget counted in whole blocks. Least recently used archives are removed first; an archive
// being read is never removed, and room for an archive is reserved before it is written, so the
// budget also holds while writes are in progress. The order of use is kept as the archives'
// modification times, so that a restarted runner counts what it finds and keeps the most
// recently used archives. One process uses a directory at a time. Safe for concurrent use.
type diskCache struct {
	dir string
	// maxRead bounds what is read back, like a download.
	maxRead int64
	budget  int64
	log     *slog.Logger
	rec     Recorder

	mu      sync.Mutex
	size    int64
	order   *list.List // of *diskEntry, most recent first
	entries map[string]*list.Element
}

type diskEntry struct {
	key  string
	size int64 // both files, in whole blocks
	// readers counts loads in progress; an entry with readers is never evicted.
	readers int
	// writing marks room reserved for a store in progress: not loadable, not evictable.
	writing bool
	// touched is when the archive's modification time was last set.
	touched time.Time
}

// openDiskCache counts the archives already in dir, oldest use last, removes what a crash left
// half-written, and trims the cache to budget. Evictions are logged to log and counted by rec
// (nil: not counted).
func openDiskCache(dir string, maxRead, budget int64, log *slog.Logger, rec Recorder) (*diskCache, error) {
	if rec == nil {
		rec = noRecorder{}
	}
	d := &diskCache{dir: dir, maxRead: maxRead, budget: budget, log: log, rec: rec, order: list.New(), entries: map[string]*list.Element{}}
	found, err := d.scan()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b *diskEntry) int { return b.touched.Compare(a.touched) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range found {
		d.entries[e.key] = d.order.PushBack(e)
		d.size += e.size
	}
	for d.size > d.budget {
		d.evictLocked(d.order.Back(), "over budget at start")
	}
	d.log.Debug("chart cache opened", "archives", len(d.entries), "bytes", d.size, "budget", d.budget)
	return d, nil
}

// scan returns the complete archives in dir. Temporary files and an archive or digest without
// its pair (a crash between the two renames of store, or of remove) are removed.
func (d *diskCache) scan() ([]*diskEntry, error) {
	dirents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	type pair struct {
		archive, digest fs.FileInfo
	}
	pairs := map[string]*pair{}
	for _, de := range dirents {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			_ = os.Remove(filepath.Join(d.dir, name))
			continue
		}
		key, ext, ok := strings.Cut(name, ".")
		if !ok || !isCacheKey(key) || (ext != "tgz" && ext != "sha256") || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		p := pairs[key]
		if p == nil {
			p = &pair{}
			pairs[key] = p
		}
		if ext == "tgz" {
			p.archive = info
		} else {
			p.digest = info
		}
	}
	var found []*diskEntry
	for key, p := range pairs {
		if p.archive == nil || p.digest == nil {
			d.removeFiles(key)
			continue
		}
		found = append(found, &diskEntry{key: key, size: onDisk(p.archive.Size()) + onDisk(p.digest.Size()), touched: p.archive.ModTime()})
	}
	return found, nil
}

func isCacheKey(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// onDisk is n bytes rounded up to whole blocks.
func onDisk(n int64) int64 {
	return (n + diskBlock - 1) / diskBlock * diskBlock
}

func (d *diskCache) paths(key string) (archivePath, digestPath string) {
	return filepath.Join(d.dir, key+".tgz"), filepath.Join(d.dir, key+".sha256")
}

// load returns the cached archive of key and marks it most recently used. An archive whose
// digest differs from the recorded one, or that cannot be read, is removed and reported as
// absent.
func (d *diskCache) load(key string) (archive, bool) {
	e, ok := d.acquire(key)
	if !ok {
		return archive{}, false
	}
	defer d.release(e)
	archivePath, digestPath := d.paths(key)
	want, err := os.ReadFile(digestPath)
	if err != nil {
		d.remove(key)
		return archive{}, false
	}
	data, err := readFileLimited(archivePath, d.maxRead)
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

// acquire marks key most recently used and holds it against eviction until release.
func (d *diskCache) acquire(key string) (*diskEntry, bool) {
	d.mu.Lock()
	el, ok := d.entries[key]
	if !ok || el.Value.(*diskEntry).writing {
		d.mu.Unlock()
		return nil, false
	}
	e := el.Value.(*diskEntry)
	e.readers++
	persist := d.useLocked(el)
	d.mu.Unlock()
	d.persistUse(key, persist)
	return e, true
}

func (d *diskCache) release(e *diskEntry) {
	d.mu.Lock()
	e.readers--
	d.mu.Unlock()
}

// touch marks key most recently used, if it is cached: a hit in memory is a use of the disk
// copy too, which must not be evicted as unused while memory serves it.
func (d *diskCache) touch(key string) {
	d.mu.Lock()
	el, ok := d.entries[key]
	persist := ok && !el.Value.(*diskEntry).writing && d.useLocked(el)
	d.mu.Unlock()
	d.persistUse(key, persist)
}

// useLocked moves el to the front and reports whether its modification time is due to be set.
func (d *diskCache) useLocked(el *list.Element) bool {
	d.order.MoveToFront(el)
	e := el.Value.(*diskEntry)
	now := time.Now()
	if now.Sub(e.touched) < touchInterval {
		return false
	}
	e.touched = now
	return true
}

// persistUse records a use in the archive's modification time. A failure only costs order
// after a restart.
func (d *diskCache) persistUse(key string, persist bool) {
	if !persist {
		return
	}
	archivePath, _ := d.paths(key)
	now := time.Now()
	_ = os.Chtimes(archivePath, now, now)
}

// store writes a's archive and digest as key, after making room for them by evicting least
// recently used archives that nobody reads. It fails with errDiskCacheFull, writing nothing,
// when no such room can be made.
func (d *diskCache) store(key string, a archive) error {
	digestLine := []byte(a.digest + "\n")
	if err := d.reserve(key, onDisk(int64(len(a.data)))+onDisk(int64(len(digestLine)))); err != nil {
		return err
	}
	archivePath, digestPath := d.paths(key)
	err := writeAtomic(d.dir, archivePath, a.data)
	if err == nil {
		err = writeAtomic(d.dir, digestPath, digestLine)
	}
	if err != nil {
		d.remove(key)
		return err
	}
	d.mu.Lock()
	if el, ok := d.entries[key]; ok {
		e := el.Value.(*diskEntry)
		e.writing, e.touched = false, time.Now()
	}
	d.mu.Unlock()
	return nil
}

// reserve counts size bytes for key, most recently used, evicting as needed.
func (d *diskCache) reserve(key string, size int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.entries[key]; ok {
		if e := el.Value.(*diskEntry); e.readers > 0 || e.writing {
			return fmt.Errorf("%w: archive %s is in use", errDiskCacheFull, key)
		}
		// Its files are replaced by the renames of the new ones.
		d.forgetLocked(el)
	}
	if size > d.budget {
		return fmt.Errorf("%w: an archive of %d bytes on disk exceeds the budget of %d", errDiskCacheFull, size, d.budget)
	}
	var idle int64
	for el := d.order.Back(); el != nil; el = el.Prev() {
		if e := el.Value.(*diskEntry); e.readers == 0 && !e.writing {
			idle += e.size
		}
	}
	if d.size-idle+size > d.budget {
		return fmt.Errorf("%w: archives in use hold the budget of %d bytes", errDiskCacheFull, d.budget)
	}
	for el := d.order.Back(); el != nil && d.size+size > d.budget; {
		prev := el.Prev()
		if e := el.Value.(*diskEntry); e.readers == 0 && !e.writing {
			d.evictLocked(el, "least recently used")
		}
		el = prev
	}
	d.entries[key] = d.order.PushFront(&diskEntry{key: key, size: size, writing: true})
	d.size += size
	return nil
}

// evictLocked removes el's files and forgets it. The log names the key, a digest that holds
// no credential, as keyDigest (an attribute named "key" is redacted as secret-looking).
func (d *diskCache) evictLocked(el *list.Element, why string) {
	e := el.Value.(*diskEntry)
	d.forgetLocked(el)
	d.removeFiles(e.key)
	d.rec.ChartCacheEvicted("disk")
	d.log.Debug("chart cache eviction", "keyDigest", e.key, "bytes", e.size, "reason", why, "cacheBytes", d.size, "budget", d.budget)
}

func (d *diskCache) forgetLocked(el *list.Element) {
	e := el.Value.(*diskEntry)
	d.order.Remove(el)
	delete(d.entries, e.key)
	d.size -= e.size
}

// remove removes key's files and forgets it, whoever reads it: for an archive found unreadable
// or not what was stored, and for a failed store.
func (d *diskCache) remove(key string) {
	d.mu.Lock()
	if el, ok := d.entries[key]; ok {
		d.forgetLocked(el)
	}
	d.removeFiles(key)
	d.mu.Unlock()
}

// removeFiles removes the digest first: an archive without its digest is never loaded, and is
// removed at the next start.
func (d *diskCache) removeFiles(key string) {
	archivePath, digestPath := d.paths(key)
	_ = os.Remove(digestPath)
	_ = os.Remove(archivePath)
}

// bytes is what the cache counts on disk.
func (d *diskCache) bytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size
}

func readFileLimited(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, max)
}

// tmpPrefix starts the names of files being written; any left at start are from a crash.
const tmpPrefix = ".tmp-"

func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
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

// put keeps a as key, most recently used, and returns how many other archives it displaced.
// An archive larger than the whole budget is not kept.
func (m *memoryCache) put(key string, a archive) (evicted int) {
	size := int64(len(a.data))
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.max {
		return 0
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
		evicted++
	}
	m.entries[key] = m.order.PushFront(&memoryEntry{key: key, archive: a})
	m.size += size
	return evicted
}

// bytes is the size of the archives held.
func (m *memoryCache) bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}
