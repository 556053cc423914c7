package wire

import (
	"strings"
	"testing"
)

var (
	sinkBytes  []byte
	sinkString string
	sinkU64    uint64
)

func BenchmarkAppendBytes1KiB(b *testing.B) {
	p := make([]byte, 1024)
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBytes(buf[:0], p)
	}
	sinkBytes = buf
}

func BenchmarkConsumeBytes1KiB(b *testing.B) {
	enc := AppendBytes(nil, make([]byte, 1024))
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := ConsumeBytes(enc)
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = p
	}
}

var benchStrings = []struct{ name, s string }{
	{"key16", "user/1234/avatar"},
	{"utf8_1KiB", strings.Repeat("ключ-", 1024/len("ключ-"))},
}

func BenchmarkAppendString(b *testing.B) {
	for _, bs := range benchStrings {
		s := bs.s
		b.Run(bs.name, func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendString(buf[:0], s)
			}
			sinkBytes = buf
		})
	}
}

func BenchmarkConsumeString(b *testing.B) {
	for _, bs := range benchStrings {
		s := bs.s
		b.Run(bs.name, func(b *testing.B) {
			enc := AppendString(nil, s)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				v, _, err := ConsumeString(enc)
				if err != nil {
					b.Fatal(err)
				}
				sinkString = v
			}
		})
	}
}

func BenchmarkConsumeU64(b *testing.B) {
	enc := AppendU64(nil, 1<<63)
	b.ReportAllocs()
	for b.Loop() {
		v, _, err := ConsumeU64(enc)
		if err != nil {
			b.Fatal(err)
		}
		sinkU64 = v
	}
}
