package drift

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// parseManifest splits a multi-document YAML manifest into objects, in document order. Empty
// documents (comments only, or "---" alone) are skipped and List kinds are flattened, as Helm's
// resource builder does. Every object must have apiVersion, kind and metadata.name. Errors
// carry reason; a document is named by its position so that no value reaches a message.
func parseManifest(manifest string, reason failure.Reason) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objects []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, failure.Wrap(reason, err, "read manifest document %d", doc)
		}
		parsed, err := parseDocument(raw)
		if err != nil {
			return nil, failure.Wrap(reason, err, "manifest document %d", doc)
		}
		objects = append(objects, parsed...)
	}
}

func parseDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	var content map[string]any
	if err := utiljson.Unmarshal(js, &content); err != nil {
		return nil, errors.New("not a YAML mapping")
	}
	obj := &unstructured.Unstructured{Object: content}
	if !obj.IsList() {
		return []*unstructured.Unstructured{obj}, validObject(obj)
	}
	var items []*unstructured.Unstructured
	err = obj.EachListItem(func(o runtime.Object) error {
		item, ok := o.(*unstructured.Unstructured)
		if !ok {
			return errors.New("list item is not an object")
		}
		items = append(items, item)
		return validObject(item)
	})
	return items, err
}

func validObject(obj *unstructured.Unstructured) error {
	switch {
	case obj.GetAPIVersion() == "":
		return errors.New("object without apiVersion")
	case obj.GetKind() == "":
		return errors.New("object without kind")
	case obj.GetName() == "":
		return errors.New(obj.GetKind() + " without metadata.name")
	}
	return nil
}

// objectKey identifies an object across manifests regardless of its API version, so that a
// kind moving from one version to another is an update, not a delete and a create.
type objectKey struct {
	Group, Kind, Namespace, Name string
}

func keyOf(o Object) objectKey {
	return objectKey{Group: groupOf(o.APIVersion), Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func identify(obj *unstructured.Unstructured) Object {
	return Object{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
	}
}

// groupOf returns the API group of an apiVersion ("" for the core group "v1").
func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ""
	}
	return gv.Group
}
