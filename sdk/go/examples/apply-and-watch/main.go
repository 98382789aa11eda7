// Command apply-and-watch applies a HelmRelease through the controller's gRPC API, waits until
// it is Ready and prints its Helm history.
//
//	PLANTON_API_ADDR=127.0.0.1:9443 PLANTON_API_CA=ca.crt PLANTON_API_TOKEN=$(kubectl create token deployer) \
//	  go run ./examples/apply-and-watch -namespace demo -name podinfo \
//	  -repo oci://charts.example.com/charts -chart podinfo -version 6.9.0
//
// The token is a Kubernetes ServiceAccount token (PLANTON_API_TOKEN, or -token-file) whose
// ServiceAccount may create, patch, get and watch helmreleases in the namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/project-planton/helm-release-controller/sdk/go/client"
	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "apply-and-watch: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run() error {
	namespace := flag.String("namespace", "default", "namespace of the HelmRelease")
	name := flag.String("name", "", "name of the HelmRelease (required)")
	repo := flag.String("repo", "", "chart repository: https:// index or oci:// registry (required)")
	chart := flag.String("chart", "", "chart name (required)")
	version := flag.String("version", "", "exact chart version (required)")
	values := flag.String("values", "", "chart values as a JSON object")
	tokenFile := flag.String("token-file", "", "file holding the ServiceAccount token (default: $PLANTON_API_TOKEN)")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for Ready")
	flag.Parse()

	for _, required := range []struct{ flag, value string }{
		{"name", *name}, {"repo", *repo}, {"chart", *chart}, {"version", *version},
	} {
		if required.value == "" {
			return fmt.Errorf("-%s is required", required.flag)
		}
	}
	addr := os.Getenv("PLANTON_API_ADDR")
	if addr == "" {
		return errors.New("PLANTON_API_ADDR is not set (host:port of the API)")
	}
	var token credentials.PerRPCCredentials
	switch {
	case *tokenFile != "":
		token = client.TokenFile(*tokenFile)
	case os.Getenv("PLANTON_API_TOKEN") != "":
		token = client.BearerToken(os.Getenv("PLANTON_API_TOKEN"))
	default:
		return errors.New("no token: set PLANTON_API_TOKEN or -token-file")
	}
	spec := &helmv1.HelmReleaseSpec{Repo: *repo, Name: *chart, Version: *version}
	if *values != "" {
		spec.Values = &structpb.Struct{}
		if err := spec.Values.UnmarshalJSON([]byte(*values)); err != nil {
			return fmt.Errorf("-values: %w", err)
		}
	}

	c, err := client.DialWithToken(addr, os.Getenv("PLANTON_API_CA"), token)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	applied, err := c.Apply(ctx, &helmv1.ApplyRequest{Namespace: *namespace, Name: *name, Spec: spec})
	if err != nil {
		return fmt.Errorf("apply %s/%s: %w", *namespace, *name, err)
	}
	verb := "configured"
	if applied.GetCreated() {
		verb = "created"
	}
	fmt.Printf("helmrelease %s/%s %s (generation %d)\n", *namespace, *name, verb, applied.GetHelmRelease().GetGeneration())

	ready, err := client.WaitReady(ctx, c, *namespace, *name)
	if err != nil {
		return err
	}
	release := ready.GetStatus().GetRelease()
	fmt.Printf("helmrelease %s/%s Ready: %s (release %s/%s revision %d, chart %s %s)\n",
		*namespace, *name, client.Condition(ready, "Ready").GetMessage(),
		release.GetNamespace(), release.GetName(), release.GetRevision(), release.GetChartName(), release.GetChartVersion())

	history, err := c.History(ctx, &helmv1.HistoryRequest{Namespace: *namespace, Name: *name})
	if err != nil {
		return fmt.Errorf("history %s/%s: %w", *namespace, *name, err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REVISION\tCHART VERSION\tAPP VERSION\tSTATUS\tDEPLOYED")
	for _, r := range history.GetRevisions() {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.GetRevision(), r.GetChartVersion(), r.GetAppVersion(), r.GetStatus(),
			r.GetDeployedAt().AsTime().Format(time.RFC3339))
	}
	return w.Flush()
}
