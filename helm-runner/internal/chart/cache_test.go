package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestSecondGetMakesNoRequest(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("first Get: %v", err)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("first Get made %d requests, want 2 (index and archive)", n)
	}

	c, second, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("second Get made %d more requests, want none", n-2)
	}
	if second != first || c.Metadata.Version != "1.0.0" {
		t.Fatalf("second Get = %s %s, want version 1.0.0 with digest %s", c.Metadata.Version, second, first)
	}

	restarted, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, third, err := restarted.Get(testContext(t), r.ref("plain", "1.0.0")); err != nil || third != first {
		t.Fatalf("Get after restart = %s, %v; want digest %s", third, err, first)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("Get after restart made %d more requests, want none (disk cache)", n-2)
	}
}

func TestEveryGetReturnsItsOwnChart(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	s := newTestSource(t, Limits{})
	first, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	// What Helm's install does to a chart with disabled dependencies, and worse.
	first.Values["message"] = "changed"
	first.Templates = nil
	first.Metadata.Description = "changed"

	second, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if second.Values["message"] != "hello" || len(second.Templates) != 1 || second.Metadata.Description == "changed" {
		t.Fatalf("second Get returned the chart the first caller modified: values %v, %d templates", second.Values, len(second.Templates))
	}
}

func TestCorruptCachedArchiveIsFetchedAgain(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, digest, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	archives, err := filepath.Glob(filepath.Join(dir, "charts", "*.tgz"))
	if err != nil || len(archives) != 1 {
		t.Fatalf("cached archives = %v, %v; want one", archives, err)
	}
	if err := os.WriteFile(archives[0], chartArchive(t, "plain", "1.0.0", file{name: "plain/templates/evil.yaml", body: []byte("kind: Secret\n")}), 0o600); err != nil {
		t.Fatal(err)
	}

	restarted, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	before := r.requestCount()
	c, again, err := restarted.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("Get with a corrupt cache: %v", err)
	}
	if r.requestCount() == before {
		t.Fatal("the tampered archive was served from the cache")
	}
	if again != digest || len(c.Templates) != 1 {
		t.Fatalf("got digest %s with %d templates, want %s with 1", again, len(c.Templates), digest)
	}
}

func TestConcurrentGetsDownloadOnce(t *testing.T) {
	const callers = 8
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	release := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/index.yaml" {
			<-release
		}
		return false
	})
	s := newTestSource(t, Limits{})
	ref := r.ref("plain", "1.0.0")
	t0, err := ref.validate()
	if err != nil {
		t.Fatal(err)
	}
	key := cacheKey(t0, s.credKey)

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, _, err := s.Get(testContext(t), ref)
			errs <- err
		})
	}
	eventually(t, "every caller to wait on one download", func() bool {
		s.flights.mu.Lock()
		defer s.flights.mu.Unlock()
		fl := s.flights.m[key]
		return fl != nil && fl.waiters == callers
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	if idx, arc := r.requestsTo("/index.yaml"), r.requestsTo("/plain-1.0.0.tgz"); idx != 1 || arc != 1 {
		t.Fatalf("%d callers made %d index and %d archive requests, want 1 and 1", callers, idx, arc)
	}
}

func TestCredentialsDoNotShareCacheEntries(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	r.requireAuth("user", "secret")
	s := newTestSource(t, Limits{})
	ref := r.ref("plain", "1.0.0")
	ref.Username, ref.Password = "user", "secret"
	if _, _, err := s.Get(testContext(t), ref); err != nil {
		t.Fatalf("Get with credentials: %v", err)
	}

	anonymous := r.ref("plain", "1.0.0")
	_, _, err := s.Get(testContext(t), anonymous)
	wantReason(t, err, failure.AuthFailed, "requires credentials")

	wrong := ref
	wrong.Password = "guess"
	_, _, err = s.Get(testContext(t), wrong)
	wantReason(t, err, failure.AuthFailed, "refused the credentials")
}

func TestCancelledGetAbandonsDownload(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	abandoned := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/plain-1.0.0.tgz" {
			<-req.Context().Done()
			close(abandoned)
			return true
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := newTestSource(t, Limits{}).Get(ctx, r.ref("plain", "1.0.0"))
	wantReason(t, err, failure.Timeout)
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the download went on after its only caller gave up")
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	release := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/plain-1.0.0.tgz" {
			<-release
		}
		return false
	})
	s := newTestSource(t, Limits{})
	patient := make(chan error, 1)
	go func() {
		_, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
		patient <- err
	}()
	eventually(t, "the download to start", func() bool { return r.requestsTo("/plain-1.0.0.tgz") == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Get(ctx, r.ref("plain", "1.0.0"))
	wantReason(t, err, failure.Cancelled)

	close(release)
	if err := <-patient; err != nil {
		t.Fatalf("the caller still waiting got %v", err)
	}
	if n := r.requestsTo("/plain-1.0.0.tgz"); n != 1 {
		t.Fatalf("archive requests = %d, want 1", n)
	}
}

// logBuffer collects a logger's JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// keyOf is the cache key of ref in s.
func keyOf(t *testing.T, s *Source, ref Ref) string {
	t.Helper()
	tg, err := ref.validate()
	if err != nil {
		t.Fatal(err)
	}
	return cacheKey(tg, s.credKey)
}

// cachedOnDisk reports whether key's archive and digest are both in the directory charts.
func cachedOnDisk(t *testing.T, charts, key string) bool {
	t.Helper()
	n := 0
	for _, ext := range []string{".tgz", ".sha256"} {
		if _, err := os.Stat(filepath.Join(charts, key+ext)); err == nil {
			n++
		}
	}
	return n == 2
}

// filesOnDisk is what the archives and digests in dir take, in whole blocks of their sizes.
func filesOnDisk(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tgz") && !strings.HasSuffix(e.Name(), ".sha256") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += onDisk(info.Size())
	}
	return total
}

// entryBytes is what one cached test chart takes on disk: its archive and its digest line,
// each under one block.
const entryBytes = 2 * diskBlock

func TestDiskCacheEvictsLeastRecentlyUsed(t *testing.T) {
	r := newFakeRepo(t)
	r.requireAuth("deployer", "s3cret-password")
	for _, name := range []string{"a", "b", "c", "d"} {
		r.add(name, "1.0.0", chartArchive(t, name, "1.0.0"), "")
	}
	ref := func(name string) Ref {
		ref := r.ref(name, "1.0.0")
		ref.Username, ref.Password = "deployer", "s3cret-password"
		return ref
	}
	get := func(s *Source, name string) {
		t.Helper()
		if _, _, err := s.Get(testContext(t), ref(name)); err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
	}
	for _, memory := range []struct {
		name  string
		bytes int64
	}{
		{"a hit on disk is a use", 0},
		{"a hit in memory is a use of the disk copy", DefaultMemoryCacheBytes},
	} {
		t.Run(memory.name, func(t *testing.T) {
			dir := t.TempDir()
			log, logs := debugLogger()
			s, err := NewSource(dir, Limits{}, WithDiskCacheBytes(3*entryBytes), WithMemoryCacheBytes(memory.bytes), WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			get(s, "a")
			get(s, "b")
			get(s, "c")
			get(s, "a")
			get(s, "d")

			for name, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
				if got := cachedOnDisk(t, filepath.Join(dir, "charts"), keyOf(t, s, ref(name))); got != want {
					t.Errorf("chart %s on disk = %t, want %t", name, got, want)
				}
			}
			if got := s.disk.bytes(); got != 3*entryBytes || got != filesOnDisk(t, filepath.Join(dir, "charts")) {
				t.Errorf("cache counts %d bytes, files take %d; want both %d", got, filesOnDisk(t, filepath.Join(dir, "charts")), 3*entryBytes)
			}
			evicted := keyOf(t, s, ref("b"))
			if out := logs.String(); !strings.Contains(out, `"msg":"chart cache eviction","keyDigest":"`+evicted+`"`) {
				t.Errorf("no eviction of chart b (key %s) in the log:\n%s", evicted, out)
			}
			if out := logs.String(); strings.Contains(out, "s3cret-password") || strings.Contains(out, "deployer") {
				t.Errorf("the log names the credentials:\n%s", out)
			}

			restarted, err := NewSource(dir, Limits{}, WithDiskCacheBytes(3*entryBytes))
			if err != nil {
				t.Fatal(err)
			}
			before := r.requestsTo("/b-1.0.0.tgz")
			get(restarted, "b")
			if r.requestsTo("/b-1.0.0.tgz") != before+1 {
				t.Error("the evicted chart b was not pulled again")
			}
		})
	}
}

func TestDiskCacheKeepsArchivesBeingRead(t *testing.T) {
	dir := t.TempDir()
	d, err := openDiskCache(dir, 1<<20, 2*entryBytes, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string]archive{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		archives[name] = newArchive([]byte("archive " + name))
	}
	key := func(name string) string { return strings.Repeat(name, 64) }
	store := func(name string) error { return d.store(key(name), archives[name]) }
	cached := func() []string {
		var names []string
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			if cachedOnDisk(t, dir, key(name)) {
				names = append(names, name)
			}
		}
		return names
	}

	for _, name := range []string{"a", "b"} {
		if err := store(name); err != nil {
			t.Fatalf("store %s: %v", name, err)
		}
	}
	a, ok := d.acquire(key("a"))
	if !ok {
		t.Fatal("a is not cached")
	}
	// a is in use although least recently used: b makes room for c.
	if err := store("c"); err != nil {
		t.Fatalf("store c: %v", err)
	}
	if got, ok := d.load(key("a")); !ok || got.digest != archives["a"].digest {
		t.Fatalf("load of a while it is read = %v, %t; want its archive", got.digest, ok)
	}
	if err := store("d"); err != nil {
		t.Fatalf("store d: %v", err)
	}
	if got := cached(); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("cached %v while a is read, want [a d]", got)
	}
	dHeld, ok := d.acquire(key("d"))
	if !ok {
		t.Fatal("d is not cached")
	}
	if err := store("e"); !errors.Is(err, errDiskCacheFull) {
		t.Fatalf("store e with every archive being read = %v, want errDiskCacheFull", err)
	}
	if got := cached(); !slices.Equal(got, []string{"a", "d"}) || d.bytes() != 2*entryBytes {
		t.Fatalf("after a refused store: cached %v, %d bytes; want [a d], %d", got, d.bytes(), 2*entryBytes)
	}
	d.release(a)
	d.release(dHeld)
	if err := store("e"); err != nil {
		t.Fatalf("store e once nothing is read: %v", err)
	}
	// d was acquired after a, so a is the least recently used.
	if got := cached(); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("cached %v, want [d e]", got)
	}
}

func TestDiskCacheTrimmedAtRestart(t *testing.T) {
	r := newFakeRepo(t)
	names := []string{"a", "b", "c", "d", "e"}
	for _, name := range names {
		r.add(name, "1.0.0", chartArchive(t, name, "1.0.0"), "")
	}
	dir := t.TempDir()
	charts := filepath.Join(dir, "charts")
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, name := range names {
		if _, _, err := s.Get(testContext(t), r.ref(name, "1.0.0")); err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
		keys[name] = keyOf(t, s, r.ref(name, "1.0.0"))
	}
	// Last used: c, then a, then the others an hour or more ago.
	for name, ago := range map[string]time.Duration{"c": time.Minute, "a": 2 * time.Minute, "b": time.Hour, "d": 2 * time.Hour, "e": 3 * time.Hour} {
		at := time.Now().Add(-ago)
		if err := os.Chtimes(filepath.Join(charts, keys[name]+".tgz"), at, at); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash leaves: a temporary file, an archive without its digest; and a file of
	// someone else's.
	orphan := strings.Repeat("0", 64)
	for name, body := range map[string]string{tmpPrefix + "123": "half an archive", orphan + ".tgz": "no digest", "NOTES": "keep"} {
		if err := os.WriteFile(filepath.Join(charts, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	log, logs := debugLogger()
	restarted, err := NewSource(dir, Limits{}, WithDiskCacheBytes(2*entryBytes), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		want := name == "a" || name == "c"
		if got := cachedOnDisk(t, charts, keys[name]); got != want {
			t.Errorf("chart %s on disk after restart = %t, want %t", name, got, want)
		}
		if want != !strings.Contains(logs.String(), `"keyDigest":"`+keys[name]+`"`) {
			t.Errorf("eviction of chart %s logged = %t, want %t", name, !want, want)
		}
	}
	for name, want := range map[string]bool{tmpPrefix + "123": false, orphan + ".tgz": false, "NOTES": true} {
		if _, err := os.Stat(filepath.Join(charts, name)); (err == nil) != want {
			t.Errorf("%s present after restart = %t, want %t", name, err == nil, want)
		}
	}
	if got := restarted.disk.bytes(); got != 2*entryBytes || got != filesOnDisk(t, charts) {
		t.Errorf("restarted cache counts %d bytes, files take %d; want both %d", got, filesOnDisk(t, charts), 2*entryBytes)
	}
	before := r.requestCount()
	for _, name := range []string{"a", "c"} {
		if _, _, err := restarted.Get(testContext(t), r.ref(name, "1.0.0")); err != nil {
			t.Fatalf("Get %s after restart: %v", name, err)
		}
	}
	if r.requestCount() != before {
		t.Error("charts kept at restart were pulled again")
	}
}

func TestDiskCacheCountsWholeBlocks(t *testing.T) {
	dir := t.TempDir()
	d, err := openDiskCache(dir, 1<<20, 1<<20, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{1, diskBlock - 1, diskBlock, diskBlock + 1, 3*diskBlock + 7} {
		if err := d.store(strings.Repeat(string(rune('a'+i)), 64), newArchive(bytes.Repeat([]byte{'x'}, n))); err != nil {
			t.Fatal(err)
		}
	}
	// Archives take 1, 1, 1, 2 and 4 blocks; each digest one.
	if want := int64(9+5) * diskBlock; d.bytes() != want || filesOnDisk(t, dir) != want {
		t.Fatalf("cache counts %d bytes, files take %d; want %d", d.bytes(), filesOnDisk(t, dir), want)
	}
	d.remove(strings.Repeat("e", 64))
	if want := int64(5+4) * diskBlock; d.bytes() != want || filesOnDisk(t, dir) != want {
		t.Fatalf("after a removal the cache counts %d bytes, files take %d; want %d", d.bytes(), filesOnDisk(t, dir), want)
	}
}

func TestArchiveLargerThanDiskBudgetIsServedNotCached(t *testing.T) {
	r := newFakeRepo(t)
	big := chartArchive(t, "big", "1.0.0", file{name: "big/files/noise.bin", body: randomBytes(t, 3*diskBlock)})
	r.add("big", "1.0.0", big, "")
	dir := t.TempDir()
	log, logs := debugLogger()
	s, err := NewSource(dir, Limits{}, WithDiskCacheBytes(2*diskBlock), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.Get(testContext(t), r.ref("big", "1.0.0"))
	if err != nil || c.Metadata.Version != "1.0.0" {
		t.Fatalf("Get of a chart larger than the disk budget = %v, %v; want the chart", c, err)
	}
	if n := filesOnDisk(t, filepath.Join(dir, "charts")); n != 0 {
		t.Fatalf("%d bytes on disk, want none", n)
	}
	if out := logs.String(); !strings.Contains(out, "chart not cached on disk") || strings.Contains(out, `"level":"WARN"`) {
		t.Fatalf("want one debug line saying the chart is not cached on disk, got:\n%s", out)
	}
}

func TestConcurrentGetsStayWithinDiskBudget(t *testing.T) {
	const charts, budget = 24, 5 * entryBytes
	r := newFakeRepo(t)
	for i := range charts {
		r.add(fmt.Sprintf("c%d", i), "1.0.0", chartArchive(t, fmt.Sprintf("c%d", i), "1.0.0"), "")
	}
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{}, WithDiskCacheBytes(budget), WithMemoryCacheBytes(0))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*charts)
	for round := range 3 {
		for i := range charts {
			wg.Go(func() {
				_, _, err := s.Get(testContext(t), r.ref(fmt.Sprintf("c%d", (i+round)%charts), "1.0.0"))
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	if got, files := s.disk.bytes(), filesOnDisk(t, filepath.Join(dir, "charts")); got > budget || got != files {
		t.Fatalf("cache counts %d bytes, files take %d; want them equal and at most %d", got, files, budget)
	}
}
