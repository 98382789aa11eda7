package chart

import (
	"fmt"
	"sync"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// countingRecorder counts what a Source records, as "pull http success", "lookup hit",
// "evicted memory" and so on.
type countingRecorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func newCountingRecorder() *countingRecorder { return &countingRecorder{counts: map[string]int{}} }

func (c *countingRecorder) add(event string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[event]++
}

func (c *countingRecorder) ChartPulled(source string, err error) {
	outcome := "success"
	if err != nil {
		outcome = "error " + string(failure.ReasonOf(err))
	}
	c.add(fmt.Sprintf("pull %s %s", source, outcome))
}

func (c *countingRecorder) ChartCacheLookup(hit bool) {
	if hit {
		c.add("lookup hit")
		return
	}
	c.add("lookup miss")
}

func (c *countingRecorder) ChartCacheEvicted(tier string) { c.add("evicted " + tier) }

func (c *countingRecorder) require(t *testing.T, step string, want map[string]int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for event, n := range want {
		if c.counts[event] != n {
			t.Errorf("after %s: %q recorded %d times, want %d (all: %v)", step, event, c.counts[event], n, c.counts)
		}
	}
	for event, n := range c.counts {
		if _, ok := want[event]; !ok {
			t.Errorf("after %s: unexpected %q recorded %d times", step, event, n)
		}
	}
}

func TestSourceRecordsPullsLookupsAndEvictions(t *testing.T) {
	r := newFakeRepo(t)
	archives := map[string][]byte{}
	var largest int
	for _, name := range []string{"a", "b", "c"} {
		archives[name] = chartArchive(t, name, "1.0.0")
		largest = max(largest, len(archives[name]))
		r.add(name, "1.0.0", archives[name], "")
	}
	rec := newCountingRecorder()
	// Memory holds one archive, disk two.
	s, err := NewSource(t.TempDir(), Limits{}, WithRecorder(rec),
		WithMemoryCacheBytes(int64(largest)), WithDiskCacheBytes(2*entryBytes))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) {
		t.Helper()
		if _, _, err := s.Get(testContext(t), r.ref(name, "1.0.0")); err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
	}

	get("a")
	rec.require(t, "the first Get of a", map[string]int{"lookup miss": 1, "pull http success": 1})
	get("a")
	rec.require(t, "the second Get of a", map[string]int{"lookup miss": 1, "pull http success": 1, "lookup hit": 1})
	get("b")
	get("c")
	rec.require(t, "Gets of b and c", map[string]int{
		"lookup miss": 3, "pull http success": 3, "lookup hit": 1,
		// b displaced a in memory, then c displaced b; c displaced a on disk.
		"evicted memory": 2, "evicted disk": 1,
	})
	get("b")
	rec.require(t, "a Get of b, on disk only", map[string]int{
		"lookup miss": 3, "pull http success": 3, "lookup hit": 2, "evicted memory": 3, "evicted disk": 1,
	})
	if disk, memory := s.CacheBytes(); disk != 2*entryBytes || memory != int64(len(archives["b"])) {
		t.Errorf("CacheBytes = %d on disk, %d in memory; want %d and %d", disk, memory, 2*entryBytes, len(archives["b"]))
	}

	if _, _, err := s.Get(testContext(t), r.ref("a", "9.9.9")); err == nil {
		t.Fatal("Get of a missing version succeeded")
	}
	rec.require(t, "a Get of a missing version", map[string]int{
		"lookup miss": 4, "pull http success": 3, "pull http error VERSION_NOT_FOUND": 1, "lookup hit": 2, "evicted memory": 3, "evicted disk": 1,
	})
}

func TestSourceRecordsOCIPulls(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	rec := newCountingRecorder()
	s, err := NewSource(t.TempDir(), Limits{}, WithRecorder(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(testContext(t), reg.ref("plain", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(testContext(t), reg.ref("plain", "2.0.0")); err == nil {
		t.Fatal("Get of a missing tag succeeded")
	}
	rec.require(t, "an OCI pull and a missing tag", map[string]int{
		"lookup miss": 2, "pull oci success": 1, "pull oci error VERSION_NOT_FOUND": 1,
	})
}

func TestSourceRecordsAnArchiveThatFailsInspectionAsAFailedPull(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	rec := newCountingRecorder()
	s, err := NewSource(t.TempDir(), Limits{MaxFileBytes: 16}, WithRecorder(rec))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(testContext(t), r.ref("plain", "1.0.0"))
	wantReason(t, err, failure.ChartTooLarge)
	rec.require(t, "a Get of a chart with a file over the limit", map[string]int{"lookup miss": 1, "pull http error CHART_TOO_LARGE": 1})
}
