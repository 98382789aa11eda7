package action

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ValuesDigest returns the lowercase hex SHA-256 of the RFC 8785 (JSON Canonicalization Scheme)
// serialisation of values: object keys sorted by UTF-16 code units, no whitespace, numbers in
// their shortest ECMAScript form. A nil map digests as the empty object, so "no values" and {}
// are equal. The reconciler computes the same digest from the values it sends.
//
// Values are expected to be JSON data (maps with string keys, slices, strings, booleans, nil
// and numbers of any Go numeric type). Other types are converted through encoding/json; a value
// that cannot be (NaN, a channel) is serialised as null.
func ValuesDigest(values map[string]any) string {
	var b strings.Builder
	if values == nil {
		b.WriteString("{}")
	} else {
		writeCanonical(&b, values)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

func writeCanonical(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case float64:
		b.WriteString(formatNumber(x))
	case float32:
		b.WriteString(formatNumber(float64(x)))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		b.WriteString(formatNumber(reflect.ValueOf(x).Convert(reflect.TypeFor[float64]()).Float()))
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			b.WriteString("null")
			return
		}
		b.WriteString(formatNumber(f))
	case map[string]any:
		writeObject(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	default:
		writeCanonical(b, viaJSON(v))
	}
}

// viaJSON converts any other Go value (named map types such as Helm's Values, typed slices,
// structs) to plain JSON data.
func viaJSON(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil
	}
	return out
}

func writeObject(b *strings.Builder, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c string) int {
		return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(c)))
	})
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, k)
		b.WriteByte(':')
		writeCanonical(b, m[k])
	}
	b.WriteByte('}')
}

// writeString writes s as ECMAScript's JSON.stringify does: only '"', '\\' and control
// characters are escaped, everything else is literal UTF-8.
func writeString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// formatNumber formats f as ECMAScript's Number.prototype.toString (ECMA-262, 7.1.12.1), which
// RFC 8785 requires: the shortest digits that round-trip, in plain notation for exponents from
// -7 to 20 and in exponent notation otherwise. NaN and infinities are not JSON: null.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return "null"
	case f == 0:
		return "0" // also -0
	case f < 0:
		return "-" + formatNumber(-f)
	}
	mantissa, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	k, n := len(digits), e+1 // f = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	exponent := "e" + sign + strconv.Itoa(abs(n-1))
	if k == 1 {
		return digits + exponent
	}
	return digits[:1] + "." + digits[1:] + exponent
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
