package drift

import (
	"reflect"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
)

func obj(t *testing.T, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := utiljson.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("bad test object %s: %v", js, err)
	}
	return m
}

func TestCompareObjects(t *testing.T) {
	tests := []struct {
		name                   string
		desired, applied, live string
		secret                 bool
		ignored                [][]string
		want                   []FieldDiff
	}{
		{
			name:    "a scaled Deployment differs in replicas",
			desired: `{"spec":{"replicas":1}}`,
			applied: `{"spec":{"replicas":1,"paused":false}}`,
			live:    `{"spec":{"replicas":3,"paused":false}}`,
			want:    []FieldDiff{{Path: "/spec/replicas", Desired: "1", Live: "3"}},
		},
		{
			name:    "identical objects do not differ",
			desired: `{"data":{"a":"1"}}`,
			applied: `{"data":{"a":"1"}}`,
			live:    `{"data":{"a":"1"}}`,
		},
		{
			name:    "a container image is compared by index",
			desired: `{"spec":{"containers":[{"name":"a","image":"x:1"}]}}`,
			applied: `{"spec":{"containers":[{"name":"a","image":"x:1","imagePullPolicy":"IfNotPresent"}]}}`,
			live:    `{"spec":{"containers":[{"name":"a","image":"x:2","imagePullPolicy":"IfNotPresent"}]}}`,
			want:    []FieldDiff{{Path: "/spec/containers/0/image", Desired: `"x:1"`, Live: `"x:2"`}},
		},
		{
			name:    "arrays of different lengths differ as a whole",
			desired: `{"spec":{"ports":[{"port":80}]}}`,
			applied: `{"spec":{"ports":[{"port":80}]}}`,
			live:    `{"spec":{"ports":[{"port":80},{"port":81}]}}`,
			want:    []FieldDiff{{Path: "/spec/ports", Desired: `[{"port":80}]`, Live: `[{"port":80},{"port":81}]`}},
		},
		{
			name:    "a field the manifest sets but the cluster lacks is added",
			desired: `{"data":{"message":"hi","version":"1.1.0"}}`,
			applied: `{"data":{"message":"hi","version":"1.1.0"}}`,
			live:    `{"data":{"message":"hi"}}`,
			want:    []FieldDiff{{Path: "/data/version", Desired: `"1.1.0"`}},
		},
		{
			name:    "a field the apply removes is reported although the manifest no longer sets it",
			desired: `{"data":{"message":"hi"}}`,
			applied: `{"data":{"message":"hi"}}`,
			live:    `{"data":{"message":"hi","old":"x"}}`,
			want:    []FieldDiff{{Path: "/data/old", Live: `"x"`}},
		},
		{
			name:    "a field set by another manager that the apply keeps is not drift",
			desired: `{"spec":{"replicas":1}}`,
			applied: `{"spec":{"replicas":1,"strategy":{"type":"Recreate"}}}`,
			live:    `{"spec":{"replicas":1,"strategy":{"type":"RollingUpdate"}}}`,
		},
		{
			name:    "server-maintained metadata, status and Helm's annotations are not compared",
			desired: `{"metadata":{"name":"a","annotations":{"meta.helm.sh/release-name":"r"}}}`,
			applied: `{"metadata":{"name":"a","resourceVersion":"2","generation":2,"uid":"u","managedFields":[{"manager":"helm"}]},"status":{"replicas":1}}`,
			live:    `{"metadata":{"name":"a","resourceVersion":"1","generation":1,"uid":"u","managedFields":[],"annotations":{"meta.helm.sh/release-name":"r","deployment.kubernetes.io/revision":"1"}},"status":{"replicas":3}}`,
		},
		{
			name:    "a chart's own annotation is compared and its path escapes the slash",
			desired: `{"metadata":{"annotations":{"example.com/owner":"a"}}}`,
			applied: `{"metadata":{"annotations":{"example.com/owner":"a"}}}`,
			live:    `{"metadata":{"annotations":{"example.com/owner":"b"}}}`,
			want:    []FieldDiff{{Path: "/metadata/annotations/example.com~1owner", Desired: `"a"`, Live: `"b"`}},
		},
		{
			name:    "an ignored path and everything below it is skipped",
			desired: `{"spec":{"replicas":1,"template":{"metadata":{"labels":{"a":"1"}}}}}`,
			applied: `{"spec":{"replicas":1,"template":{"metadata":{"labels":{"a":"1"}}}}}`,
			live:    `{"spec":{"replicas":3,"template":{"metadata":{"labels":{"a":"2"}}}}}`,
			ignored: [][]string{{"spec", "replicas"}, {"spec", "template", "metadata"}},
		},
		{
			name:    "differences are sorted by path",
			desired: `{"spec":{"b":1,"a":1},"data":{"z":"1"}}`,
			applied: `{"spec":{"b":1,"a":1},"data":{"z":"1"}}`,
			live:    `{"spec":{"b":2,"a":2},"data":{"z":"2"}}`,
			want: []FieldDiff{
				{Path: "/data/z", Desired: `"1"`, Live: `"2"`},
				{Path: "/spec/a", Desired: "1", Live: "2"},
				{Path: "/spec/b", Desired: "1", Live: "2"},
			},
		},
		{
			name:    "a Secret's data values are redacted",
			desired: `{"type":"Opaque","data":{"password":"c2VjcmV0"}}`,
			applied: `{"type":"Opaque","data":{"password":"c2VjcmV0"}}`,
			live:    `{"type":"Opaque","data":{"password":"b3RoZXI="}}`,
			secret:  true,
			want:    []FieldDiff{{Path: "/data/password", Redacted: true}},
		},
		{
			name:    "a Secret's stringData drift is found under data and redacted",
			desired: `{"stringData":{"password":"secret"}}`,
			applied: `{"data":{"password":"c2VjcmV0"}}`,
			live:    `{"data":{"password":"b3RoZXI="}}`,
			secret:  true,
			want:    []FieldDiff{{Path: "/data/password", Redacted: true}},
		},
		{
			name:    "a Secret whose data was removed is redacted as a whole",
			desired: `{"data":{"password":"c2VjcmV0"}}`,
			applied: `{"data":{"password":"c2VjcmV0"}}`,
			live:    `{}`,
			secret:  true,
			want:    []FieldDiff{{Path: "/data", Redacted: true}},
		},
		{
			name:    "a ConfigMap's data is not redacted",
			desired: `{"data":{"password":"a"}}`,
			applied: `{"data":{"password":"a"}}`,
			live:    `{"data":{"password":"b"}}`,
			want:    []FieldDiff{{Path: "/data/password", Desired: `"a"`, Live: `"b"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareObjects(obj(t, tt.desired), obj(t, tt.applied), obj(t, tt.live), tt.secret, tt.ignored)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("compareObjects =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestCompareObjectsLeavesInputsUntouched(t *testing.T) {
	live := obj(t, `{"metadata":{"name":"a","resourceVersion":"1","annotations":{"meta.helm.sh/release-name":"r"}},"status":{}}`)
	compareObjects(obj(t, `{}`), obj(t, `{}`), live, false, nil)
	want := obj(t, `{"metadata":{"name":"a","resourceVersion":"1","annotations":{"meta.helm.sh/release-name":"r"}},"status":{}}`)
	if !reflect.DeepEqual(live, want) {
		t.Fatalf("live object was modified: %v", live)
	}
}
