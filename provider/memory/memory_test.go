package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"

	"github.com/wrpc-kv/gateway/keyvalue"
)

func TestGetSetDeleteExists(t *testing.T) {
	ctx := context.Background()
	s := New()

	if v, ok, err := s.Get(ctx, "b", "k"); err != nil || ok || v != nil {
		t.Fatalf("Get absent = %q, %v, %v; want nil, false, nil", v, ok, err)
	}
	if err := s.Set(ctx, "b", "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, "b", "k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v, %v; want v1, true, nil", v, ok, err)
	}
	if ok, err := s.Exists(ctx, "b", "k"); err != nil || !ok {
		t.Fatalf("Exists = %v, %v; want true", ok, err)
	}
	if err := s.Delete(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, "b", "k"); err != nil || ok {
		t.Fatalf("Exists after delete = %v, %v; want false", ok, err)
	}
	if err := s.Delete(ctx, "b", "k"); err != nil {
		t.Fatalf("Delete absent = %v; want nil", err)
	}
	if err := s.Delete(ctx, "never-written", "k"); err != nil {
		t.Fatalf("Delete in unwritten bucket = %v; want nil", err)
	}
}

func TestEmptyValueIsPresent(t *testing.T) {
	ctx := context.Background()
	s := New()
	for _, in := range [][]byte{nil, {}} {
		if err := s.Set(ctx, "b", "k", in); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get(ctx, "b", "k")
		if err != nil || !ok || v == nil || len(v) != 0 {
			t.Fatalf("Get empty = %#v, %v, %v; want non-nil empty, true", v, ok, err)
		}
		got, err := s.GetMany(ctx, "b", []string{"k"})
		if err != nil || got[0] == nil || got[0].Value == nil || len(got[0].Value) != 0 {
			t.Fatalf("GetMany empty = %#v, %v; want a non-nil empty value", got[0], err)
		}
	}
}

func TestValuesAreCopied(t *testing.T) {
	ctx := context.Background()
	s := New()
	buf := []byte("abc")
	if err := s.Set(ctx, "b", "k", buf); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X'
	v, _, _ := s.Get(ctx, "b", "k")
	if string(v) != "abc" {
		t.Fatalf("after caller reused its buffer, Get = %q; want abc", v)
	}
	v[1] = 'Y'
	v2, _, _ := s.Get(ctx, "b", "k")
	if string(v2) != "abc" {
		t.Fatalf("after caller changed a returned value, Get = %q; want abc", v2)
	}

	items := []keyvalue.KeyValue{{Key: "m", Value: []byte("123")}}
	if err := s.SetMany(ctx, "b", items); err != nil {
		t.Fatal(err)
	}
	items[0].Value[0] = 'X'
	got, _ := s.GetMany(ctx, "b", []string{"m"})
	if string(got[0].Value) != "123" {
		t.Fatalf("after SetMany buffer reuse, value = %q; want 123", got[0].Value)
	}
	got[0].Value[0] = 'Z'
	got, _ = s.GetMany(ctx, "b", []string{"m"})
	if string(got[0].Value) != "123" {
		t.Fatalf("after changing a GetMany result, value = %q; want 123", got[0].Value)
	}
}

func TestIncrement(t *testing.T) {
	ctx := context.Background()
	s := New()
	for _, want := range []uint64{3, 6} {
		n, err := s.Increment(ctx, "b", "c", 3)
		if err != nil || n != want {
			t.Fatalf("Increment = %d, %v; want %d", n, err, want)
		}
	}
	if v, _, _ := s.Get(ctx, "b", "c"); string(v) != "6" {
		t.Fatalf("Get counter = %q; want \"6\"", v)
	}
	if n, err := s.Increment(ctx, "b", "c", 0); err != nil || n != 6 {
		t.Fatalf("Increment by 0 = %d, %v; want 6", n, err)
	}

	// A counter set as text by someone else is read as a counter.
	if err := s.Set(ctx, "b", "t", []byte("41")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Increment(ctx, "b", "t", 1); err != nil || n != 42 {
		t.Fatalf("Increment of \"41\" = %d, %v; want 42", n, err)
	}
}

func TestIncrementRejectsNonCounters(t *testing.T) {
	ctx := context.Background()
	s := New()
	for _, v := range []string{"", "abc", "-1", "+1", " 1", "1 ", "1.5", "0x10", "1_000", "18446744073709551616", "\x00"} {
		if err := s.Set(ctx, "b", "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Increment(ctx, "b", "k", 1)
		var oe *keyvalue.OtherError
		if !errors.As(err, &oe) {
			t.Errorf("Increment of %q = %v; want *keyvalue.OtherError", v, err)
		}
		if got, _, _ := s.Get(ctx, "b", "k"); string(got) != v {
			t.Errorf("failed Increment changed %q to %q", v, got)
		}
	}
}

func TestIncrementOverflow(t *testing.T) {
	ctx := context.Background()
	s := New()
	if n, err := s.Increment(ctx, "b", "k", math.MaxUint64); err != nil || n != math.MaxUint64 {
		t.Fatalf("Increment to max = %d, %v", n, err)
	}
	if v, _, _ := s.Get(ctx, "b", "k"); string(v) != "18446744073709551615" {
		t.Fatalf("stored max = %q", v)
	}
	_, err := s.Increment(ctx, "b", "k", 1)
	var oe *keyvalue.OtherError
	if !errors.As(err, &oe) {
		t.Fatalf("Increment past max = %v; want *keyvalue.OtherError", err)
	}
	if v, _, _ := s.Get(ctx, "b", "k"); string(v) != "18446744073709551615" {
		t.Fatalf("after overflow, value = %q; want it unchanged", v)
	}
}

func TestIncrementConcurrent(t *testing.T) {
	ctx := context.Background()
	s := New()
	const goroutines, each = 50, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := s.Increment(ctx, "b", "c", 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _, _ := s.Get(ctx, "b", "c"); string(v) != strconv.Itoa(goroutines*each) {
		t.Fatalf("counter = %q; want %d", v, goroutines*each)
	}
}

// listAll follows cursors to the end and fails on a page larger than the page size.
func listAll(t *testing.T, s *Store, bucket string, pageSize int) []string {
	t.Helper()
	var all []string
	var cursor *uint64
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("list-keys did not end")
		}
		resp, err := s.ListKeys(context.Background(), bucket, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Keys) > pageSize {
			t.Fatalf("page of %d keys; page size is %d", len(resp.Keys), pageSize)
		}
		all = append(all, resp.Keys...)
		if resp.Cursor == nil {
			return all
		}
		if len(resp.Keys) == 0 {
			t.Fatal("empty page with a cursor")
		}
		cursor = resp.Cursor
	}
}

func TestListKeysPaging(t *testing.T) {
	ctx := context.Background()
	s := New(PageSize(3))
	want := map[string]bool{}
	for i := range 12 {
		k := fmt.Sprintf("k%02d", i)
		if err := s.Set(ctx, "b", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	// Deleted keys leave gaps in the sequence; an overwrite keeps its place.
	for _, k := range []string{"k00", "k05"} {
		_ = s.Delete(ctx, "b", k)
		delete(want, k)
	}
	_ = s.Set(ctx, "b", "k03", []byte("again"))

	got := listAll(t, s, "b", 3)
	if len(got) != 10 {
		t.Fatalf("listed %d keys %v; want 10", len(got), got)
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] || !want[k] {
			t.Fatalf("key %q listed twice or not expected (%v)", k, got)
		}
		seen[k] = true
	}

	// 9 keys in pages of 3: the third page is full and last, so it carries no cursor.
	s2 := New(PageSize(3))
	for i := range 9 {
		_ = s2.Set(ctx, "b", strconv.Itoa(i), nil)
	}
	var cursor *uint64
	for page := 1; page <= 3; page++ {
		resp, err := s2.ListKeys(ctx, "b", cursor)
		if err != nil || len(resp.Keys) != 3 {
			t.Fatalf("page %d = %v, %v; want 3 keys", page, resp.Keys, err)
		}
		if (resp.Cursor == nil) != (page == 3) {
			t.Fatalf("page %d cursor = %v", page, resp.Cursor)
		}
		cursor = resp.Cursor
	}
}

func TestListKeysWhileWriting(t *testing.T) {
	ctx := context.Background()
	s := New(PageSize(7))
	const n = 200
	for i := range n {
		_ = s.Set(ctx, "b", fmt.Sprintf("stable-%d", i), []byte("v"))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			k := fmt.Sprintf("churn-%d", i%50)
			_ = s.Set(ctx, "b", k, []byte("v"))
			_ = s.Set(ctx, "b", fmt.Sprintf("stable-%d", i%n), []byte("overwrite"))
			_ = s.Delete(ctx, "b", k)
		}
	})
	got := listAll(t, s, "b", 7)
	close(done)
	wg.Wait()
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	for i := range n {
		if k := fmt.Sprintf("stable-%d", i); count[k] != 1 {
			t.Errorf("%s listed %d times; want once", k, count[k])
		}
	}
	for k, c := range count {
		if c > 1 {
			t.Errorf("%s listed %d times", k, c)
		}
	}
}

func TestListKeysCompaction(t *testing.T) {
	ctx := context.Background()
	s := New(PageSize(5))
	for i := range 1000 {
		_ = s.Set(ctx, "b", strconv.Itoa(i), nil)
	}
	first, _ := s.ListKeys(ctx, "b", nil)
	for i := range 990 {
		_ = s.Delete(ctx, "b", strconv.Itoa(i))
	}
	// The cursor handed out before the compaction still works.
	rest := first.Keys[:0:0]
	cursor := first.Cursor
	for cursor != nil {
		resp, err := s.ListKeys(ctx, "b", cursor)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, resp.Keys...)
		cursor = resp.Cursor
	}
	if len(rest) != 10 || rest[0] != "990" || rest[9] != "999" {
		t.Fatalf("after compaction listed %v; want 990..999", rest)
	}
}

func TestCreateBuckets(t *testing.T) {
	ctx := context.Background()

	auto := New()
	if _, ok, err := auto.Get(ctx, "new", "k"); err != nil || ok {
		t.Fatalf("Get in unwritten bucket = %v, %v; want absent", ok, err)
	}
	resp, err := auto.ListKeys(ctx, "new", nil)
	if err != nil || len(resp.Keys) != 0 || resp.Cursor != nil {
		t.Fatalf("ListKeys of unwritten bucket = %+v, %v; want empty", resp, err)
	}
	if got, err := auto.GetMany(ctx, "new", []string{"a", "b"}); err != nil || len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Fatalf("GetMany in unwritten bucket = %v, %v; want [nil nil]", got, err)
	}

	fixed := New(CreateBuckets(false))
	calls := map[string]func(string) error{
		"Get":    func(b string) error { _, _, err := fixed.Get(ctx, b, "k"); return err },
		"Set":    func(b string) error { return fixed.Set(ctx, b, "k", []byte("v")) },
		"Delete": func(b string) error { return fixed.Delete(ctx, b, "k") },
		"Exists": func(b string) error { _, err := fixed.Exists(ctx, b, "k"); return err },
		"ListKeys": func(b string) error {
			_, err := fixed.ListKeys(ctx, b, nil)
			return err
		},
		"Increment":  func(b string) error { _, err := fixed.Increment(ctx, b, "counter", 1); return err },
		"GetMany":    func(b string) error { _, err := fixed.GetMany(ctx, b, []string{"k"}); return err },
		"SetMany":    func(b string) error { return fixed.SetMany(ctx, b, []keyvalue.KeyValue{{Key: "k"}}) },
		"DeleteMany": func(b string) error { return fixed.DeleteMany(ctx, b, []string{"k"}) },
	}
	fixed.CreateBucket("made")
	for name, call := range calls {
		if err := call("missing"); !errors.Is(err, keyvalue.ErrNoSuchStore) {
			t.Errorf("%s on missing bucket = %v; want ErrNoSuchStore", name, err)
		}
		if err := call("made"); err != nil {
			t.Errorf("%s on created bucket = %v", name, err)
		}
	}
}

func TestBatch(t *testing.T) {
	ctx := context.Background()
	s := New()
	err := s.SetMany(ctx, "b", []keyvalue.KeyValue{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Value: []byte("2")},
		{Key: "a", Value: []byte("3")}, // the last value for a key wins
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMany(ctx, "b", []string{"b", "x", "a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b=2", "nil", "a=3", "b=2"}
	for i, kv := range got {
		s := "nil"
		if kv != nil {
			s = kv.Key + "=" + string(kv.Value)
		}
		if s != want[i] {
			t.Errorf("GetMany[%d] = %s; want %s", i, s, want[i])
		}
	}
	if err := s.DeleteMany(ctx, "b", []string{"a", "x"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetMany(ctx, "b", []string{"a", "b"})
	if got[0] != nil || got[1] == nil {
		t.Fatalf("after DeleteMany, GetMany = %v; want [nil, b]", got)
	}
	if got, err := s.GetMany(ctx, "b", nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany of no keys = %v, %v", got, err)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := New()
	if err := s.Set(ctx, "b", "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with canceled ctx = %v; want context.Canceled", err)
	}
}

func TestPageSizeOption(t *testing.T) {
	if s := New(PageSize(0)); s.pageSize != DefaultPageSize {
		t.Fatalf("PageSize(0) gave %d; want the default", s.pageSize)
	}
	s := New(PageSize(2))
	ctx := context.Background()
	for i := range 5 {
		_ = s.Set(ctx, "b", strconv.Itoa(i), nil)
	}
	resp, _ := s.ListKeys(ctx, "b", nil)
	if len(resp.Keys) != 2 || resp.Cursor == nil {
		t.Fatalf("first page = %+v; want 2 keys and a cursor", resp)
	}
}
