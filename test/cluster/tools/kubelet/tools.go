//go:build tools

// Package tools pins the kubelet command in this wrapper module.
package tools

import _ "k8s.io/kubernetes/cmd/kubelet"
