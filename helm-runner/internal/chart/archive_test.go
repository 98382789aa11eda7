package chart

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestMaliciousArchivesAreRefused(t *testing.T) {
	zeros := func(n int) []byte { return make([]byte, n) }
	many := func(count, size int) []file {
		var fs []file
		for i := range count {
			fs = append(fs, file{name: "plain/files/zero-" + strconv.Itoa(i), body: zeros(size)})
		}
		return fs
	}
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		limits  Limits
		want    failure.Reason
		says    string
	}{
		{
			name: "path traversal inside the chart",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/../../etc/cron.d/x", body: []byte("x")})
			},
			want: failure.InvalidChart, says: "path traversal",
		},
		{
			// Helm's loader drops the first path element, so it would accept this one.
			name: "path traversal in the first element",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "../templates/x.yaml", body: []byte("x")})
			},
			want: failure.InvalidChart, says: "path traversal",
		},
		{
			name: "an absolute path",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "/etc/passwd", body: []byte("x")})
			},
			want: failure.InvalidChart, says: "absolute path",
		},
		{
			name: "a Windows drive path",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: `c:\windows\x`, body: []byte("x")})
			},
			want: failure.InvalidChart, says: "absolute path",
		},
		{
			name: "a symlink",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/templates/secret.yaml", typ: tar.TypeSymlink, link: "/etc/shadow"})
			},
			want: failure.InvalidChart, says: "link",
		},
		{
			name: "a hard link",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/templates/x.yaml", typ: tar.TypeLink, link: "plain/values.yaml"})
			},
			want: failure.InvalidChart, says: "link",
		},
		{
			name: "a device file",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/dev", typ: tar.TypeChar})
			},
			want: failure.InvalidChart, says: "only regular files",
		},
		{
			name: "a file over the per-file limit",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/big.txt", body: zeros(6 << 20)})
			},
			want: failure.ChartTooLarge, says: "5 MiB",
		},
		{
			name:    "a gzip bomb: many files under the per-file limit adding up past the total",
			archive: func(t *testing.T) []byte { return chartArchive(t, "plain", "1.0.0", many(22, 5<<20)...) },
			want:    failure.ChartTooLarge, says: "100 MiB decompressed",
		},
		{
			name: "a bomb hidden in a sub-chart archive",
			archive: func(t *testing.T) []byte {
				sub := tgz(t, append(chartFiles("sub", "sub", "1.0.0"), many(8, 200<<10)...)...)
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/charts/sub-1.0.0.tgz", body: sub})
			},
			limits: Limits{MaxDecompressedBytes: 1 << 20},
			want:   failure.ChartTooLarge, says: "sub-chart archive",
		},
		{
			name: "a symlink hidden in a sub-chart archive",
			archive: func(t *testing.T) []byte {
				sub := tgz(t, append(chartFiles("sub", "sub", "1.0.0"), file{name: "sub/templates/x", typ: tar.TypeSymlink, link: "/etc/passwd"})...)
				return chartArchive(t, "plain", "1.0.0", file{name: "plain/charts/sub-1.0.0.tgz", body: sub})
			},
			want: failure.InvalidChart, says: "link",
		},
		{
			name:    "too many entries",
			archive: func(t *testing.T) []byte { return chartArchive(t, "plain", "1.0.0", many(maxEntries, 0)...) },
			want:    failure.ChartTooLarge, says: "entries",
		},
		{
			name: "a file outside the chart's directory",
			archive: func(t *testing.T) []byte {
				return chartArchive(t, "plain", "1.0.0", file{name: "README", body: []byte("x")})
			},
			want: failure.InvalidChart, says: "not inside",
		},
		{
			name:    "an archive holding another chart",
			archive: func(t *testing.T) []byte { return chartArchive(t, "other", "1.0.0") },
			want:    failure.InvalidChart, says: `"other"`,
		},
		{
			name:    "an archive holding another version",
			archive: func(t *testing.T) []byte { return chartArchive(t, "plain", "2.0.0") },
			want:    failure.InvalidChart, says: `"2.0.0"`,
		},
		{
			name:    "an archive without Chart.yaml",
			archive: func(t *testing.T) []byte { return tgz(t, file{name: "plain/values.yaml", body: []byte("a: 1\n")}) },
			want:    failure.InvalidChart, says: "Chart.yaml",
		},
		{
			name:    "a file that is not gzip",
			archive: func(*testing.T) []byte { return []byte("apiVersion: v2\nname: plain\n") },
			want:    failure.InvalidChart, says: "gzip",
		},
		{
			name:    "a truncated archive",
			archive: func(t *testing.T) []byte { a := chartArchive(t, "plain", "1.0.0"); return a[:len(a)/2] },
			want:    failure.InvalidChart,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeRepo(t)
			r.add("plain", "1.0.0", tt.archive(t), "")
			_, _, err := newTestSource(t, tt.limits).Get(testContext(t), r.ref("plain", "1.0.0"))
			wantReason(t, err, tt.want, tt.says)
		})
	}
}

func TestChartWithSubchartArchiveLoads(t *testing.T) {
	sub := tgz(t, chartFiles("sub", "sub", "0.1.0")...)
	data := tgz(t, append(chartFiles("parent", "parent", "1.0.0"), file{name: "parent/charts/sub-0.1.0.tgz", body: sub})...)
	r := newFakeRepo(t)
	r.add("parent", "1.0.0", data, "")
	c, _, err := newTestSource(t, Limits{}).Get(testContext(t), r.ref("parent", "1.0.0"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if deps := c.Dependencies(); len(deps) != 1 || deps[0].Name() != "sub" {
		t.Fatalf("dependencies = %v, want the sub chart", deps)
	}
}

func TestArchiveLargerThanLimit(t *testing.T) {
	big := make([]byte, 64<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	data := chartArchive(t, "plain", "1.0.0", file{name: "plain/random.bin", body: big})
	for _, chunked := range []bool{false, true} {
		name := "an archive with Content-Length over the limit"
		if chunked {
			name = "a streamed archive over the limit"
		}
		t.Run(name+" is too large", func(t *testing.T) {
			r := newFakeRepo(t)
			r.add("plain", "1.0.0", data, "")
			r.setIntercept(func(w http.ResponseWriter, req *http.Request) bool {
				if req.URL.Path != "/plain-1.0.0.tgz" || !chunked {
					return false
				}
				_, _ = w.Write(data[:10])
				w.(http.Flusher).Flush()
				_, _ = bytes.NewReader(data[10:]).WriteTo(w)
				return true
			})
			_, _, err := newTestSource(t, Limits{MaxArchiveBytes: 32 << 10}).Get(testContext(t), r.ref("plain", "1.0.0"))
			wantReason(t, err, failure.ChartTooLarge, "chart archive", "32768 bytes")
		})
	}
}
