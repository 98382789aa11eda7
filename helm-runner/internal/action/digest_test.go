package action

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Number vectors from RFC 8785 appendix B (IEEE 754 bits → ECMAScript form).
func TestFormatNumberRFC8785(t *testing.T) {
	vectors := map[string]string{
		"0000000000000000": "0",
		"8000000000000000": "0",
		"0000000000000001": "5e-324",
		"8000000000000001": "-5e-324",
		"7fefffffffffffff": "1.7976931348623157e+308",
		"ffefffffffffffff": "-1.7976931348623157e+308",
		"4340000000000000": "9007199254740992",
		"c340000000000000": "-9007199254740992",
		"4430000000000000": "295147905179352830000",
		"44b52d02c7e14af5": "9.999999999999997e+22",
		"44b52d02c7e14af6": "1e+23",
		"44b52d02c7e14af7": "1.0000000000000001e+23",
		"444b1ae4d6e2ef4e": "999999999999999700000",
		"444b1ae4d6e2ef4f": "999999999999999900000",
		"444b1ae4d6e2ef50": "1e+21",
		"3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
		"3eb0c6f7a0b5ed8d": "0.000001",
		"41b3de4355555553": "333333333.3333332",
		"41b3de4355555554": "333333333.33333325",
		"41b3de4355555555": "333333333.3333333",
		"41b3de4355555556": "333333333.3333334",
		"41b3de4355555557": "333333333.33333343",
		"becbf647612f3696": "-0.0000033333333333333333",
		"43143ff3c1cb0959": "1424953923781206.2",
	}
	for bits, want := range vectors {
		raw, _ := hex.DecodeString(bits)
		f := math.Float64frombits(binary.BigEndian.Uint64(raw))
		if got := formatNumber(f); got != want {
			t.Errorf("formatNumber(%s) = %s, want %s", bits, got, want)
		}
	}
}

func canonical(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{
			name:  "RFC 8785 section 3.2.2 example",
			input: `{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`,
			want:  `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			name:  "keys sort by UTF-16 code units (RFC 8785 section 3.2.3)",
			input: `{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			want:  "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			name:  "no HTML escaping and nested objects sorted",
			input: `{"b":{"z":1,"a":"<&>"},"a":[{"y":2,"x":1}]}`,
			want:  `{"a":[{"x":1,"y":2}],"b":{"a":"<&>","z":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.input), &v); err != nil {
				t.Fatal(err)
			}
			if got := canonical(v); got != tt.want {
				t.Fatalf("canonical:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestValuesDigest(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		// sha256 of {} and of {"a":[true,null,"x"],"b":1}, computed with sha256sum.
		{"no values digest as the empty object", nil, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		{"empty values digest as the empty object", map[string]any{}, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		{"values from JSON", map[string]any{"b": 1.0, "a": []any{true, nil, "x"}}, "54a65415ad370228851a1da4b31b6fd42dc58b19a50d35cae759325f7388ce64"},
		{"Go integers digest as JSON numbers", map[string]any{"b": 1, "a": []any{true, nil, "x"}}, "54a65415ad370228851a1da4b31b6fd42dc58b19a50d35cae759325f7388ce64"},
		{"nested objects and int64 values", map[string]any{"image": map[string]any{"tag": "1.2"}, "replicaCount": int64(3)}, "908894567c234cba663cafcdd2ab12ab43457e05a8b257268952508eafeb9f14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValuesDigest(tt.values); got != tt.want {
				t.Fatalf("ValuesDigest = %s, want %s", got, tt.want)
			}
		})
	}
	if ValuesDigest(map[string]any{"tags": []string{"a"}}) != ValuesDigest(map[string]any{"tags": []any{"a"}}) {
		t.Fatal("a []string and the same []any digest differently")
	}
}
