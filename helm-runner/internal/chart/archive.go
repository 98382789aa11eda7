package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

const (
	// maxEntries bounds the files in one chart, sub-charts included: empty files cost no
	// bytes but each becomes an object in Helm's loader.
	maxEntries = 10000
	// maxNesting bounds sub-chart archives inside sub-chart archives.
	maxNesting = 5
)

var drivePath = regexp.MustCompile(`^[a-zA-Z]:`)

// inspectArchive reads a chart archive once, without keeping its content, and refuses what
// Helm v4.3.1's loader lets through or checks too late: links and special files (the loader
// loads a symlink as an empty file), `..` anywhere in a path (the loader drops the first path
// element, so `../templates/x` passes), a file over MaxFileBytes (the loader no longer limits
// single files: archive.MaxDecompressedFileSize is unused), and sub-chart archives whose
// content the loader gives a fresh 100 MiB budget each — here one budget covers the chart and
// every nested archive.
func inspectArchive(data []byte, lim Limits) error {
	b := &budget{bytes: lim.MaxDecompressedBytes, entries: maxEntries}
	return b.inspect(data, lim, 0)
}

type budget struct {
	bytes   int64
	entries int
}

func (b *budget) inspect(data []byte, lim Limits, depth int) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return failure.Wrap(failure.InvalidChart, err, "chart archive is not gzip-compressed")
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure.Wrap(failure.InvalidChart, err, "chart archive is not a valid tar archive")
		}
		if b.entries--; b.entries < 0 {
			return failure.New(failure.ChartTooLarge, "chart archive holds more than %d entries", maxEntries)
		}
		name, err := entryName(hd)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		if hd.Size > lim.MaxFileBytes {
			return fileTooLarge(name, lim)
		}
		content, err := b.read(tr, name, lim, isSubchartArchive(name))
		if err != nil {
			return err
		}
		if content == nil {
			continue
		}
		if depth >= maxNesting {
			return failure.New(failure.InvalidChart, "sub-chart archive %q is nested more than %d levels deep", shorten(name), maxNesting)
		}
		if err := b.inspect(content, lim, depth+1); err != nil {
			return fmt.Errorf("sub-chart archive %q: %w", shorten(name), err)
		}
	}
}

// read consumes one entry, charging its real size (not the header's) to the budget, and
// returns its content only when keep is set.
func (b *budget) read(r io.Reader, name string, lim Limits, keep bool) ([]byte, error) {
	var buf bytes.Buffer
	var w io.Writer = io.Discard
	if keep {
		w = &buf
	}
	n, err := io.Copy(w, io.LimitReader(r, lim.MaxFileBytes+1))
	if err != nil {
		return nil, failure.Wrap(failure.InvalidChart, err, "chart archive entry %q cannot be read", shorten(name))
	}
	if n > lim.MaxFileBytes {
		return nil, fileTooLarge(name, lim)
	}
	if b.bytes -= n; b.bytes < 0 {
		return nil, failure.New(failure.ChartTooLarge,
			"chart is larger than the limit of %s decompressed", bytesText(lim.MaxDecompressedBytes))
	}
	if !keep {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// entryName returns the cleaned name of a regular file, "" for entries to skip, or an error
// for entries no chart may hold.
func entryName(hd *tar.Header) (string, error) {
	raw := hd.Name
	switch hd.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archivers still write TypeRegA
	case tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
		return "", checkPath(raw)
	case tar.TypeSymlink, tar.TypeLink:
		return "", failure.New(failure.InvalidChart, "chart archive holds a link %q: links are not allowed in charts", shorten(raw))
	default:
		return "", failure.New(failure.InvalidChart, "chart archive holds %q of tar type %q: only regular files are allowed", shorten(raw), string(hd.Typeflag))
	}
	if err := checkPath(raw); err != nil {
		return "", err
	}
	name := strings.ReplaceAll(raw, `\`, "/")
	if !strings.Contains(strings.Trim(name, "/"), "/") {
		return "", failure.New(failure.InvalidChart, "chart archive file %q is not inside the chart's directory", shorten(raw))
	}
	return name, nil
}

// checkPath refuses absolute paths, drive letters, `..` elements and NUL bytes, treating `\`
// as a separator as Helm's loader does for archives made on Windows.
func checkPath(raw string) error {
	name := strings.ReplaceAll(raw, `\`, "/")
	switch {
	case strings.ContainsRune(name, 0):
		return failure.New(failure.InvalidChart, "chart archive path %q contains a NUL byte", shorten(raw))
	case path.IsAbs(name) || drivePath.MatchString(name):
		return failure.New(failure.InvalidChart, "chart archive holds an absolute path %q", shorten(raw))
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return failure.New(failure.InvalidChart, "chart archive path %q leaves the chart directory (path traversal)", shorten(raw))
		}
	}
	return nil
}

// isSubchartArchive matches where Helm's loader unpacks nested archives: charts/<name>.tgz.
func isSubchartArchive(name string) bool {
	dir, file := path.Split(name)
	return path.Base(path.Clean(dir)) == "charts" && path.Ext(file) == ".tgz"
}

func fileTooLarge(name string, lim Limits) error {
	return failure.New(failure.ChartTooLarge, "chart file %q is larger than the limit of %s decompressed",
		shorten(name), bytesText(lim.MaxFileBytes))
}

// loadChart inspects and loads an archive and checks that it is the chart that was asked for.
func loadChart(data []byte, lim Limits, name, version string) (*chartv2.Chart, error) {
	if err := inspectArchive(data, lim); err != nil {
		return nil, err
	}
	c, err := load(data)
	if err != nil {
		return nil, err
	}
	if c.Name() != name || c.Metadata.Version != version {
		return nil, failure.New(failure.InvalidChart, "archive holds chart %q version %q, not the requested %q version %q",
			shorten(c.Name()), shorten(c.Metadata.Version), name, version)
	}
	return c, nil
}

// load parses an archive already inspected; each call returns a new chart.
func load(data []byte) (*chartv2.Chart, error) {
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, failure.Wrap(failure.InvalidChart, err, "chart cannot be loaded")
	}
	if c.Metadata == nil {
		return nil, failure.New(failure.InvalidChart, "chart has no Chart.yaml")
	}
	return c, nil
}
