package render

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// renders records what an Isolated reports.
type renders struct {
	mu   sync.Mutex
	errs []error
}

func (r *renders) RenderEnded(elapsed time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if elapsed <= 0 {
		err = errors.New("no elapsed time reported")
	}
	r.errs = append(r.errs, err)
}

func TestIsolatedReportsEveryRender(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rec := &renders{}
	r, err := NewIsolated(Worker{Path: exe, Args: []string{WorkerCommand}}, Limits{Output: 64 << 10}, WithRecorder(rec))
	if err != nil {
		t.Fatal(err)
	}
	for _, template := range []string{`ok: true`, `{{ fail "no way" }}`, `{{ "x" | repeat 1048576 }}`} {
		_, _ = r.Render(context.Background(), request(memChart("recorded", map[string]string{"x.yaml": template}), nil))
	}
	_, _ = r.Render(context.Background(), Request{})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) != 4 {
		t.Fatalf("%d renders reported, want 4: %v", len(rec.errs), rec.errs)
	}
	var chartErr *ChartError
	for i, check := range []struct {
		what string
		ok   bool
	}{
		{"a render that succeeded reports no error", rec.errs[0] == nil},
		{"a template error is reported as Helm's", errors.As(rec.errs[1], &chartErr)},
		{"an output bomb is reported as RENDER_LIMIT_EXCEEDED", failure.ReasonOf(rec.errs[2]) == failure.RenderLimitExceeded},
		{"a request without a chart is reported as INVALID_ARGUMENT", failure.ReasonOf(rec.errs[3]) == failure.InvalidArgument},
	} {
		if !check.ok {
			t.Errorf("%s: got %v", check.what, rec.errs[i])
		}
	}
}
