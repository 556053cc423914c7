package handlers

import (
	"encoding/json"
	"testing"
)

// jsonString's shortcut for literals without escapes answers exactly what decoding does.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"k"`, `"caf\u00e9"`, `"café"`, `"a\"b"`, `"\ud800"`, `"\xff"`, `"tab	"`, `""`, `12`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		got, gotErr := jsonString(raw, field{"/keys", 0, ""})
		var want string
		wantErr := json.Unmarshal(raw, &want) != nil || hasLoneSurrogate(raw)
		if (gotErr != nil) != wantErr || (gotErr == nil && got != want) {
			t.Fatalf("jsonString(%q) = %q, %v; decoding gives %q (refused %v)", raw, got, gotErr, want, wantErr)
		}
	})
}
