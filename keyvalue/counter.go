package keyvalue

import "strconv"

// Counters are stored as the decimal ASCII text of an unsigned 64-bit integer, as
// Redis-backed providers store them, so a GET after two increments of 3 returns "6".

var (
	errNotCounter      = &OtherError{Message: "value is not an unsigned decimal integer"}
	errCounterOverflow = &OtherError{Message: "increment overflows the unsigned 64-bit counter"}
)

// AddToCounter adds delta to the counter stored as current (nil when the key is absent, which
// counts as 0) and returns the sum and its stored form. A value that is not an unsigned
// decimal integer, or a sum past 2^64-1, answers *OtherError.
func AddToCounter(current []byte, delta uint64) (sum uint64, stored []byte, err error) {
	var cur uint64
	if current != nil {
		if cur, err = parseCounter(current); err != nil {
			return 0, nil, err
		}
	}
	sum = cur + delta
	if sum < cur {
		return 0, nil, errCounterOverflow
	}
	return sum, strconv.AppendUint(nil, sum, 10), nil
}

// parseCounter accepts digits only: no sign, space or exponent.
func parseCounter(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 20 {
		return 0, errNotCounter
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errNotCounter
		}
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, errNotCounter
	}
	return n, nil
}
