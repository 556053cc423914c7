package keyvalue

import (
	"errors"
	"testing"
)

func TestAddToCounter(t *testing.T) {
	for _, tt := range []struct {
		current []byte
		delta   uint64
		want    string
		ok      bool
	}{
		{nil, 3, "3", true},
		{[]byte("3"), 3, "6", true},
		{[]byte("0"), 0, "0", true},
		{[]byte("18446744073709551614"), 1, "18446744073709551615", true},
		{[]byte("18446744073709551615"), 1, "", false},
		{[]byte("1"), 18446744073709551615, "", false},
		{[]byte(""), 1, "", false},
		{[]byte("-1"), 1, "", false},
		{[]byte(" 1"), 1, "", false},
		{[]byte("1e3"), 1, "", false},
		{[]byte("99999999999999999999"), 1, "", false},
		{[]byte("hello"), 1, "", false},
	} {
		sum, stored, err := AddToCounter(tt.current, tt.delta)
		if !tt.ok {
			var other *OtherError
			if !errors.As(err, &other) {
				t.Errorf("AddToCounter(%q, %d) = %d, %v; want an OtherError", tt.current, tt.delta, sum, err)
			}
			continue
		}
		if err != nil || string(stored) != tt.want {
			t.Errorf("AddToCounter(%q, %d) = %q, %v; want %s", tt.current, tt.delta, stored, err, tt.want)
		}
	}
}
